"""Motion LoRA trainer: MotionDirector (Zhao et al., arXiv 2310.08465) for AnimateDiff v3."""
