"""Measuring networks: the benchmark datasets (`datasets`), MATLAB's bicubic resize for LR inputs
(`imresize`), PSNR/SSIM on Y (`metrics`), the evaluation protocol (`evaluate`) and throughput
benchmarks (`bench`); benchmarks on demand: the published images' facts (`facts`), where to fetch
them (`sources`), downloads (`transfer`), safe extraction (`archive`) and the fetch itself (`fetch`)."""
