"""Producing one live preview (latent->RGB linear map + contact sheet) against one denoising step,
at SD1.5-like latent sizes (4 x 16 x 64 x 64, i.e. 16 frames at 512x512).

The step is the *tiny* UNet's (far cheaper than SD1.5's), so the ratio printed is an upper bound
of the real one. Target: preview / step <= 2 %.
"""

import torch
from _common import best_of

from backends.core.previews import contact_sheet, latents_to_rgb
from backends.core.tiny_models import tiny_motion_adapter, tiny_unet_2d


def main() -> None:
    from diffusers import UNetMotionModel

    unet = UNetMotionModel.from_unet2d(tiny_unet_2d(), tiny_motion_adapter()).eval()
    latents = torch.randn(1, 4, 16, 64, 64)
    text = torch.randn(2 * 16, 77, 32)

    def step():
        with torch.no_grad():
            unet(torch.cat([latents] * 2), 500, text)  # classifier-free guidance doubles the batch

    def preview():
        contact_sheet(latents_to_rgb(latents))

    step()
    step_s, preview_s = best_of(step, 3), best_of(preview, 20)
    print(f"one denoising step (tiny UNet, CFG): {step_s * 1000:.1f} ms")
    print(f"one preview (map + contact sheet):   {preview_s * 1000:.2f} ms")
    print(f"ratio preview / step: {100 * preview_s / step_s:.2f} %  (target <= 2 %; SD1.5's step is far slower)")


if __name__ == "__main__":
    main()
