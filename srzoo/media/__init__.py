"""Files in and out: still images (`images`: modes, 16-bit, float, alpha, ICC, EXIF), video with
its audio (`video`) and batches of files with skip/resume, atomic writes and a summary (`batch`)."""
