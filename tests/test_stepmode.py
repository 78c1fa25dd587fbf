"""Step mode: the pruning schedule advanced Δt steps at a time, equal to the one-go training loop."""
import pytest
import torch

from conftest import fingerprint
from pages.ui import charts
from prune_core.config import PruneConfig
from prune_core.errors import PruneScopeError
from prune_core.training_data import FinetuneConfig
from prune_core.training_loop import train_while_pruning
from prune_core.methods import get_method
from prune_core.stepmode import ScheduleStepper
from prune_core.targets import find_targets


@pytest.mark.parametrize("method", ["gradual", "movement"])
def test_stepping_follows_the_schedule_and_ends_where_the_one_go_run_ends(gpt, method):
    before = fingerprint(gpt.model)
    config = PruneConfig(method=method, sparsity=0.7)
    ft = FinetuneConfig(steps=12, lr=1e-3, batch_size=4, seq_len=64, eval_every=1000, loss_samples=4, prune_every=2)
    stepper = ScheduleStepper(gpt, config, ft)
    schedule = stepper.schedule
    assert stepper.events() == [3, 5, 7]  # 12 steps: dense to 1, then every 2 steps up to 7, then fine-tuning
    assert stepper.curve[0].sparsity == 0.0 and stepper.curve[0].val_loss is not None
    seen, stops = [], []
    while not stepper.done:
        assert 1 <= stepper.advance() <= 2  # at most Δt steps per call
        stops.append(stepper.step)
        point = stepper.curve[-1]
        seen.append(point.sparsity)
        assert point.val_loss is not None and point.step == stepper.step
        last_event = max([e for e in stepper.events() if e <= stepper.step], default=0)
        target = schedule.sparsity(last_event)  # masks tighten only at events
        assert target - 1e-3 <= point.sparsity <= target + 1e-3  # the weights are as sparse as the schedule says
    assert stepper.step == 12 and stepper.advance() == 0
    assert set(stepper.events()) <= set(stops)  # every pruning event is a stop: each one is seen
    assert seen == sorted(seen) and seen[-1] == pytest.approx(0.7, abs=1e-3)
    assert fingerprint(gpt.model) == before  # the shared model was never trained
    targets = find_targets(gpt.model, "all")
    model, masks, _ = train_while_pruning(gpt, gpt.model, targets, config, ft, get_method(method))
    for t in targets:
        assert torch.equal(masks[t.name], stepper.masks[t.name])
        assert torch.equal(dict(model.named_parameters())[t.name], stepper.params[t.name])


def test_histogram_cut_and_chart(gpt):
    stepper = ScheduleStepper(gpt, PruneConfig(method="gradual", sparsity=0.5))  # the default budget, as the page uses
    assert stepper.events() == [6, 8, 10, 12, 14, 16, 18, 20, 22, 24]  # 40 steps: dense to 4, ramp every 2 to 24
    module = "transformer.h.0.mlp.c_fc"
    hist, cut, removed = stepper.histogram(module)
    assert cut is None and removed == 0 and hist["before"].sum() == 192 * 768
    stepper.advance(6)  # through the first pruning event
    hist, cut, removed = stepper.histogram(module)
    assert removed > 0 and cut > 0
    w = stepper.params["transformer.h.0.mlp.c_fc.weight"].detach()
    assert int((w == 0).sum()) >= removed and float(w[w != 0].abs().min()) <= cut + 1e-12
    assert hist["after"].sum() == int((w != 0).sum())
    fig = charts.histogram_chart(hist, module, cut, removed)
    assert fig.layout.title.text.startswith(f"Weights of {module}")
    with pytest.raises(PruneScopeError, match="not pruned"):
        stepper.histogram("lm_head")


def test_one_shot_methods_and_bad_steps_are_refused(gpt):
    with pytest.raises(PruneScopeError, match="Use one of: gradual, movement"):
        ScheduleStepper(gpt, PruneConfig(method="magnitude", sparsity=0.5))
    with pytest.raises(PruneScopeError, match="whole number"):
        ScheduleStepper(gpt, PruneConfig(method="gradual", sparsity=0.5),
                        FinetuneConfig(steps=2, batch_size=2, loss_samples=2)).advance(0)


def test_models_too_big_for_a_private_copy_per_user_are_refused(gpt):
    from dataclasses import replace

    big = replace(gpt, card=replace(gpt.card, params=135_000_000))  # SmolLM2's size on the same (real) weights
    with pytest.raises(PruneScopeError, match="private copy"):
        ScheduleStepper(big, PruneConfig(method="gradual", sparsity=0.5))
