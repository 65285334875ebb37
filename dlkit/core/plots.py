"""Pictures that say more than numbers: training curves, confusion matrices.

matplotlib is imported on first use (with the file-only Agg backend), and every image
is written atomically.
"""

from dlkit.core.files import atomic_path


def pyplot():
    """matplotlib.pyplot with the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: str) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=110, bbox_inches="tight", format=path.rsplit(".", 1)[-1])
    pyplot().close(figure)


def training_curves(history: dict, path: str, title: str = "") -> None:
    """One panel per metric (loss, accuracy, ...), training and validation together;
    validation-only scores (BLEU from decoding) get a panel of their own."""
    plt = pyplot()
    series = [k for k, v in history.items() if isinstance(v, list) and not k.startswith("learning_rate")]
    metrics = [k for k in series if not k.startswith("val_")]
    metrics += [k[4:] for k in series if k.startswith("val_") and k[4:] not in metrics]
    # Constrained layout keeps the title above the panels' own titles, not across them.
    figure, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.4), squeeze=False,
                                layout="constrained")
    for axis, metric in zip(axes[0], metrics):
        axis.xaxis.get_major_locator().set_params(integer=True)  # epochs: no 1.5
        if metric in history:
            axis.plot(range(1, len(history[metric]) + 1), history[metric], marker="o", color="C0", label="train")
        if f"val_{metric}" in history:
            axis.plot(range(1, len(history[f"val_{metric}"]) + 1), history[f"val_{metric}"], marker="o",
                      color="C1", label="validation")
        axis.set_xlabel("epoch")
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    if title:
        figure.suptitle(title)
    save_figure(figure, path)


def confusion_matrix(matrix, labels: list[str], path: str, title: str = "") -> None:
    plt = pyplot()
    size = max(3.5, 0.5 * len(labels) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    axis.imshow(matrix, cmap="Blues")
    axis.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    top = max(1, matrix.max())
    for i in range(len(labels)):
        for j in range(len(labels)):
            axis.text(j, i, int(matrix[i][j]), ha="center", va="center",
                      color="white" if matrix[i][j] > top / 2 else "black")
    if title:
        axis.set_title(title)
    save_figure(figure, path)
