"""`srzoo train`: each family's paper recipe, resumable, from one process to many (torchrun).

recipes (settings), config (a run), data (patches), optim (optimizer, loss, EMA), loop (the
training loop), checkpoint, distributed, validate, report (CSV log, progress), warmstart
(`--init`), export (inference-form safetensors and the zoo entry), paperdata (the papers' training
sets, fetched and prepared once).
"""
