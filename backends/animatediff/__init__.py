"""Long text-to-video, light engine: Stable Diffusion 1.5 + AnimateDiff v3, FreeNoise for length."""
