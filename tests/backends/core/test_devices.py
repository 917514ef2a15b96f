import pytest
import torch

from backends.core.devices import CudaCard, DevicePolicy, choose_policy, default_offload, on_zero_gpu

T4 = CudaCard("Tesla T4", (7, 5), 14.6)
FACTS = dict(mps_available=False, bf16_supported=False, card=T4)


def test_cpu_machine_runs_fp32_without_offload():
    policy = choose_policy(env={}, cuda_available=False, xformers_installed=True, **FACTS)
    assert (policy.device, policy.offload, policy.attention) == ("cpu", "none", "sdpa")
    assert policy.dtype("fp16") is torch.float32 and policy.keep_models == 1 and not policy.preload


def test_cuda_defaults_to_model_offload_and_fp16_and_honours_the_flag():
    policy = choose_policy(env={}, cuda_available=True, xformers_installed=False, **FACTS)
    assert (policy.device, policy.offload, policy.attention) == ("cuda", "model", "sdpa")
    assert policy.dtype() is torch.float16
    assert choose_policy(env={}, offload="sequential", cuda_available=True, xformers_installed=False, **FACTS).offload == "sequential"


def test_xformers_only_on_cuda():
    assert choose_policy(env={}, cuda_available=True, xformers_installed=True, **FACTS).attention == "xformers"
    assert choose_policy(env={}, cuda_available=False, xformers_installed=True, **FACTS).attention == "sdpa"


def test_bf16_only_when_supported():
    policy = choose_policy(env={}, cuda_available=True, xformers_installed=False, mps_available=False, bf16_supported=True,
                           card=T4)
    assert policy.dtype("bf16") is torch.bfloat16 and policy.dtype("fp16") is torch.float16
    assert choose_policy(env={}, cuda_available=True, xformers_installed=False, **FACTS).dtype("bf16") is torch.float16


def test_zero_gpu_places_on_cuda_at_start_without_offload():
    env = {"SPACES_ZERO_GPU": "true"}
    assert on_zero_gpu(env) and not on_zero_gpu({"SPACES_ZERO_GPU": "0"})
    # CUDA looks absent outside a GPU call on ZeroGPU; the policy must not fall back to CPU.
    policy = choose_policy(env=env, offload="model", cuda_available=False, xformers_installed=True, **FACTS)
    assert (policy.device, policy.offload, policy.attention) == ("cuda", "none", "sdpa")
    assert policy.zero_gpu and policy.preload and policy.keep_models > 10


def test_force_cpu_and_bad_offload():
    assert choose_policy(env={}, cuda_available=True, force_cpu=True, xformers_installed=False, **FACTS).device == "cpu"
    with pytest.raises(ValueError, match="offload must be one of"):
        choose_policy(env={}, offload="disk")


def test_mps_without_offload():
    policy = choose_policy(env={}, cuda_available=False, mps_available=True, xformers_installed=False, bf16_supported=False)
    assert isinstance(policy, DevicePolicy) and (policy.device, policy.offload) == ("mps", "none")


def test_offload_by_default_only_on_cuda_cards_under_24_gb_and_the_flag_wins():
    def chosen(memory_gb, offload=None):
        card = CudaCard("card", (8, 9), memory_gb)
        return choose_policy(env={}, offload=offload, cuda_available=True, xformers_installed=False,
                             mps_available=False, card=card).offload

    assert (chosen(12.0), chosen(23.6), chosen(24.0), chosen(79.3)) == ("model", "model", "none", "none")
    assert chosen(79.3, offload="sequential") == "sequential" and chosen(8.0, offload="none") == "none"
    assert default_offload("cuda", None) == "model"  # size unknown: the safe side
    assert default_offload("mps", None) == default_offload("cpu", T4) == "none"


def test_bf16_from_the_card_and_which_cards_have_half_precision():
    policy = lambda card: choose_policy(env={}, cuda_available=True, xformers_installed=False, mps_available=False,
                                        card=card)
    assert policy(CudaCard("NVIDIA A10G", (8, 6), 22.0)).dtype("bf16") is torch.bfloat16
    assert policy(T4).dtype("bf16") is torch.float16  # Turing only emulates bf16
    assert policy(T4).card == T4
    halves = {name: CudaCard(name, capability, 16.0).half_precision for name, capability in [
        ("Tesla P40", (6, 1)), ("GTX 1080", (6, 1)), ("Tesla M40", (5, 2)), ("Tesla K80", (3, 7)),
        ("Tesla P100", (6, 0)), ("Tesla V100", (7, 0)), ("Tesla T4", (7, 5)), ("H100", (9, 0))]}
    assert [name for name, has in halves.items() if not has] == ["Tesla P40", "GTX 1080", "Tesla M40", "Tesla K80"]
    assert choose_policy(env={}, cuda_available=False, xformers_installed=False, mps_available=False,
                         card=T4).card is None  # no card on a CPU policy
