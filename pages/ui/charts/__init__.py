"""Pure functions DataFrame -> Plotly Figure, shared by the pages and their downloads.

Every chart has a title, axis units, hover with exact values and the dense reference. They live
beside the pages because only the pages draw: prune_core returns data and never imports plotly.
Pages call `charts.<name>`; the submodules split them by what they show.
"""
from .breaks import flip_curve, token_heat_html
from .compare import compare_chart, recovery_chart, tolerance_chart, training_curve
from .disagree import disagreement_chart, disagreement_heatmap, why_scatter
from .layers import OWL_LABEL, allocation_chart, mask_heatmap, owl_chart, sensitivity_heatmap
from .run import histogram_chart, layer_sparsity_chart, measured_chart, size_chart
from .speed import crossover_chart, gpu_speedup_chart, speed_bars, sweep_chart, tradeoff_chart
from .style import standalone_html

__all__ = ["OWL_LABEL", "allocation_chart", "compare_chart", "crossover_chart", "disagreement_chart",
           "disagreement_heatmap", "flip_curve", "gpu_speedup_chart", "histogram_chart",
           "layer_sparsity_chart", "mask_heatmap", "measured_chart", "owl_chart", "recovery_chart", "sensitivity_heatmap",
           "size_chart", "speed_bars", "standalone_html", "sweep_chart", "token_heat_html", "tolerance_chart",
           "tradeoff_chart", "training_curve", "why_scatter"]
