"""Measuring networks: the benchmark datasets (`datasets`), MATLAB's bicubic resize for LR inputs
(`imresize`), PSNR/SSIM on Y (`metrics`), the evaluation protocol (`evaluate`) and throughput
benchmarks (`bench`)."""
