"""Seeing inside image networks: first-layer filters, activation maps, saliency
heat-maps (Grad-CAM, gradients) and 2-D maps of extracted features.

    from dlkit.tasks import visualize
    network = visualize.load("mobilenet_v2")                  # or a dlkit classifier's .keras
    visualize.filters(network).save("filters.png")            # each function returns a PIL image
    visualize.activations(network, "cat.jpg", ["block_3_expand_relu"]).save("act.png")
    picture, record = visualize.saliency(network, "cat.jpg", label="tabby", method="gradcam")
    visualize.features("train.npz", method="tsne").save("map.png")
    visualize.save(picture, "cam.png")                        # atomically, checked first

Modules: config (settings), pictures (writing pictures, feature maps) and cli, none of
which imports TensorFlow; network (filters, activations, saliency).
"""

from dlkit.core.task import Task, lazy_exports

TASK = Task(
    name="visualize",
    summary="Seeing inside image networks.",
    commands={"visualize": ("dlkit.tasks.visualize.cli", "See inside image networks: filters, activations, saliency heat-maps, feature maps.")},
)

__getattr__ = lazy_exports(__name__, {
    "Config": "config", "load": "network", "Network": "network", "filters": "network",
    "activations": "network", "saliency": "network", "class_index": "network",
    "features": "pictures", "embed": "pictures", "save": "pictures", "check_picture": "pictures",
})
