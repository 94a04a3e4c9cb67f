"""Vision models: tiny random LLaVA, Gemma 3 and Qwen2-VL load, their image tokens are found,
capture equals Hugging Face's hidden states, the last-layer lens is the model's own
distribution, and bad specs and images get one clear sentence."""

from __future__ import annotations

import io

import pytest
import torch

from hubcore.errors import InputError, ModelLoadError, UnsupportedModelError
from hubcore.vision.images import load_image, solid, split
from hubcore.models import ModelSpec
from hubcore.models.vision import load_vision_model
from hubcore.vision.processing import build_prompt, capture_states, encode, image_token_positions, patch_grid
from tests.support.tiny_vlms import VLM_FAMILIES, save_tiny_vlm, tiny



def VisionSpec(source: str) -> ModelSpec:
    return ModelSpec(source=source, kind="vision")


def _inputs(vm, images):
    return encode(vm, images, [build_prompt(vm, "What colour is this?")] * len(images))


@pytest.mark.parametrize("family", VLM_FAMILIES)
def test_image_positions_and_capture_match_hf(family):
    vm = tiny(family)
    inputs = _inputs(vm, [solid("red"), split("green", "blue")])
    cols = image_token_positions(vm, inputs["input_ids"])
    assert [len(c) for c in cols] == [16, 16]  # 4x4 grid for every tiny family
    for row, c in enumerate(cols):
        assert c == list(range(c[0], c[0] + 16))  # one contiguous block
        assert set(inputs["input_ids"][row, c].tolist()) == {vm.image_token_id}
    assert patch_grid(vm, 16, inputs, 0) == (4, 4)
    layers = list(range(vm.num_layers + 1))
    states = capture_states(vm, inputs, cols, layers)
    with torch.inference_mode():
        hf = vm.hf(**inputs, output_hidden_states=True).hidden_states
    for row, c in enumerate(cols):
        for li in layers[:-1]:  # HF's last entry is already normed
            torch.testing.assert_close(states[row][:, li], hf[li][row, c].float(), atol=1e-5, rtol=1e-5)
    # the image is visible: two different images give different layer-0 image states
    assert (states[0][:, 0] - states[1][:, 0]).abs().max() > 1e-3


@pytest.mark.parametrize("family", VLM_FAMILIES)
def test_last_layer_lens_is_the_models_distribution(family):
    from hubcore.lens import project

    vm = tiny(family)
    assert vm.card.lens_check < 1e-4
    inputs = _inputs(vm, [solid("blue")])
    cols = image_token_positions(vm, inputs["input_ids"])
    st = capture_states(vm, inputs, cols, [vm.num_layers])[0]
    out = project(vm, st, top_k=3)
    with torch.inference_mode():
        own = vm.hf(**inputs).logits[0, cols[0]].float().log_softmax(-1)
    top, ids = own.topk(3, dim=-1)
    assert torch.equal(out.top_ids[0], ids)
    torch.testing.assert_close(out.top_logprobs[0], top, atol=1e-4, rtol=1e-4)


def test_saved_folder_loads_like_a_users_model(tmp_path):
    folder = save_tiny_vlm("qwen2_vl", tmp_path / "qwen")  # the torchvision-free processor path
    vm = load_vision_model(VisionSpec(str(folder)))
    assert vm.card.family == "qwen2_vl" and vm.num_layers == 3 and vm.card.lens_check < 1e-4
    inputs = _inputs(vm, [solid("red")])
    assert len(image_token_positions(vm, inputs["input_ids"])[0]) == 16


def test_spec_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="No vision-language model is set"):
        VisionSpec("")
    with pytest.raises(ModelLoadError, match="not in the local Hugging Face cache"):
        load_vision_model(VisionSpec("no-such-org/no-such-vlm"))
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_vision_model(VisionSpec(str(tmp_path / "missing")))
    from tests.support.tiny_models import build_tiny_model

    build_tiny_model("llama", 64).save_pretrained(tmp_path / "llama")
    with pytest.raises(UnsupportedModelError, match="not a vision-language model"):
        load_vision_model(VisionSpec(str(tmp_path / "llama")))


def _png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_images_and_bad_uploads():
    img = split("red", "blue", size=32)
    assert img.getpixel((0, 0)) == (220, 20, 20) and img.getpixel((31, 0)) == (20, 40, 220)
    assert load_image(_png(img)).size == (32, 32)
    with pytest.raises(InputError, match="empty"):
        load_image(b"", "a.png")
    with pytest.raises(InputError, match="not an image"):
        load_image(b"hello, world", "notes.png")
    with pytest.raises(InputError, match="corrupt or truncated"):
        load_image(_png(solid("red", 64))[:60], "cut.png")
    buf = io.BytesIO()
    solid("red", 8).save(buf, format="TIFF")
    with pytest.raises(InputError, match="TIFF"):
        load_image(buf.getvalue(), "x.tif")
    from PIL import Image

    big = io.BytesIO()
    Image.new("1", (8000, 6000)).save(big, format="PNG")  # 48 MP in a few kB
    with pytest.raises(InputError, match="megapixels"):
        load_image(big.getvalue(), "huge.png")
    with pytest.raises(InputError, match="Unknown colour"):
        solid("mauve")
