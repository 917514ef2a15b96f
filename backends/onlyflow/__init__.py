"""OnlyFlow (Koroglu et al. 2024): video-to-video motion transfer by optical flow on AnimateDiff v3 + SD1.5.

- ``optical_flow``: frames -> flow (RAFT-large when available offline, else OpenCV DIS), flow colour wheel.
- ``flow_encoder``: the flow encoder, and windowed encoding of clips longer than 16 frames.
- ``attention_processor``: the flow processors for the motion modules' attn1, and their installation.
- ``checkpoint``: the released weights' container, strict loading, safetensors twin.
- ``pipeline``: settings and generation through diffusers' ``AnimateDiffPipeline``.
"""
