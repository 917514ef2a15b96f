import pytest
import torch

from backends.core.devices import DevicePolicy, choose_policy, on_zero_gpu

FACTS = dict(mps_available=False, bf16_supported=False)


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
    policy = choose_policy(env={}, cuda_available=True, xformers_installed=False, mps_available=False, bf16_supported=True)
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
