"""The model zoo's weights: the manifest (`zoo.toml`), finding, fetching, verifying and converting files.

Resolution order for the weights of (model, scale), first hit wins:
1. `--weights PATH`, a local safetensors file (its tensors must fit the model);
2. `$SRZOO_WEIGHTS_DIR/<filename>` (`srzoo zoo import`, `srzoo download` and `srzoo train` write there);
3. the files bundled inside the package (`srzoo/zoo/bundled/`);
4. the Hugging Face Hub (`hf_hub_download`, honouring its cache, `HF_HUB_OFFLINE`, `HF_ENDPOINT`);
5. the authors' origin: their checkpoint downloaded, checked, converted and stored in the weights dir.
Every file from 2-5 is checked against the manifest's sha256 before anything reads it.
"""
