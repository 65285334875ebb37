"""Exporting a dlkit model for another runtime, checked on the spot.

    from dlkit import export
    report = export.export("mobilenet_v2", "mobilenet.tflite", "tflite")
    report["max_difference"]      # the largest |exported - Keras| over a few inputs

Keras writes each format itself (`model.export`: a TensorFlow SavedModel, a LiteRT
flatbuffer, or ONNX through tf2onnx); the export is then loaded back with that format's
own runtime (TensorFlow, the TFLite interpreter, onnxruntime) and fed the same inputs as
the Keras model, so a format that drops or changes an operation is caught before the
file is used. The file is written to a temporary path first and moved into place only
once the check passes.

What is exported is the Keras network itself, with the inputs it takes: an ImageNet
backbone named by its name is wrapped with its preprocessing, so it takes RGB pixels
0..255 like a trained classifier or a fast stylizer; a sentiment model takes token ids,
the geolocator its document vector and candidate features. A captioner or translator
folder becomes a folder holding its encoder and its one-token decoder step (two
SavedModel signatures, or encoder.onnx and step.onnx), the vocabulary or subword models,
and decoding.json (start and end ids, lengths): a runtime runs `encode` once and `step`
once per output token, feeding back the states, and searches as it likes (dlkit's beam
search is in dlkit.core.search.beam_search).
"""

import contextlib
import os
import re
import shutil
import tempfile

import numpy as np

from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events

# dlkit's name -> Keras' model.export format
FORMATS = {"saved_model": "tf_saved_model", "tflite": "litert", "onnx": "onnx"}
# The largest |exported - Keras| accepted, relative to the largest |Keras output| (at
# least 1): a SavedModel runs the same kernels; LiteRT and ONNX Runtime fuse and reorder
# operations (a convolution + batch norm as one op, another summation order), which
# moves float32 results by a few 1e-6 of their scale per layer.
TOLERANCE = {"saved_model": 1e-5, "tflite": 1e-3, "onnx": 1e-3}
# An encoder-decoder's outputs pass a whole CNN (the captioner's) before the decoder
# reads them: through ONNX Runtime its MobileNetV2 features differ by up to 1.1e-3 of
# their scale on real photos, the decoder's start states by 2.2e-3, and the greedy
# captions of 12 shared photos still agree word for word (measured, TensorFlow 2.21). An
# int8 captioner (dlkit quantize) rounds its layers' inputs to int8 steps on the fly,
# which the CNN's differences (1e-5 of its scale) can cross: a 48-unit one's start states
# differ by 1.0e-2 on the check's inputs, while its step graph agrees exactly.
DECODER_TOLERANCE = {"saved_model": 1e-5, "onnx": 2e-2}
# Sizes given to the dimensions a model leaves open (None) when it is checked.
CHECK_BATCH, CHECK_IMAGE_SIDE, CHECK_SEQUENCE = 2, 96, 12


def export(model: str, output: str, format: str, check_inputs: int = CHECK_BATCH, events: Events = SILENT) -> dict:
    """Writes `model` (a .keras file, a dlkit model folder holding a model.keras, or an
    ImageNet backbone's name) to `output` in `format`, after checking it against Keras.

    Returns {"input", "output", "format", "inputs", "max_difference", "tolerance"}.
    Raises DlkitError when the format cannot express the model or the exported outputs
    differ from Keras' by more than the tolerance (the output is then not written)."""
    if format not in FORMATS:
        raise DlkitError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    sequence = _sequence_task(model)
    if sequence:
        return _export_decoder(model, sequence, output, format, events)
    _check_output(output, format)
    network = resolve(model)
    inputs = sample_inputs(network, check_inputs)
    expected = [np.asarray(x) for x in _as_list(network(structured(network, inputs), training=False))]

    def write_and_check(staged: str) -> float:
        _write(network, staged, format)
        return max_difference(expected, run_exported(staged, format, network, inputs))

    difference, tolerance = _staged_export(model, output, format, TOLERANCE[format], write_and_check, events)
    return {"input": model, "output": output, "format": format,
            "inputs": {t.name: [None, *t.shape[1:]] for t in network.inputs},
            "max_difference": float(f"{difference:.3g}"), "tolerance": tolerance}


def _staged_export(model: str, output: str, format: str, tolerance: float, write_and_check, events: Events):
    """(difference, tolerance) once `write_and_check(path)` has written the export to a
    staging path beside `output` and measured it, and it has been moved into place;
    over the tolerance, nothing is written."""
    staging = tempfile.mkdtemp(prefix=".dlkit-export-", dir=os.path.dirname(os.path.abspath(output)) or ".")
    try:
        staged = os.path.join(staging, os.path.basename(output.rstrip("/")) or "model")
        with events.progress(None, f"exporting {os.path.basename(model.rstrip('/'))} as {format}"):
            difference = write_and_check(staged)
        if not difference <= tolerance:
            raise DlkitError(f"{format} export of {model} differs from Keras by {difference:.3g} "
                             f"(relative to the output scale; tolerance {tolerance:g}); nothing written")
        _replace(staged, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return difference, tolerance


def resolve(model: str) -> "keras.Model":
    """The Keras network to export (see the module's docstring)."""
    from dlkit import tasks
    from dlkit.core import modelio
    from dlkit.vision import backbones

    if model in backbones.BACKBONES and not os.path.exists(model):
        return _with_preprocessing(backbones.get(model))
    path = os.path.join(model, "model.keras") if os.path.isdir(model) else model
    if os.path.isdir(model) and not os.path.exists(path):
        raise DlkitError(f"{model} is not a dlkit model folder: it has no model.keras")
    if not os.path.exists(path):
        raise DlkitError(f"no such model: {model} (a .keras file, a model folder, or one of "
                         f"{', '.join(backbones.BACKBONES)})")
    tasks.import_layers()  # any dlkit model may be given, with any task's layers
    return modelio.load_model(path)


def _sequence_task(model: str) -> str | None:
    """The task whose folder `model` is, when that task exports as an encoder and a
    one-token step (its description's exports_decoder), else None."""
    from dlkit import tasks

    if not os.path.isdir(model):
        return None
    return next((name for name, task in tasks.described().items()
                 if task.exports_decoder and task.exports_decoder(model)), None)


# Steps of decoding run when an encoder-decoder export is checked: enough to pass the
# first words, where a wrong state or attention shows.
CHECK_STEPS = 8


def _export_decoder(model: str, task: str, output: str, format: str, events: Events) -> dict:
    """An encoder-decoder as its encoder and its one-token step (see the module's docstring)."""
    import importlib

    if format == "tflite":
        # Measured with TensorFlow 2.21: the converter stops at the translator encoder's
        # LSTM over a source of any length (TensorList ops, outside LiteRT's builtins)
        # and at the attention's batched matrix products over (beams, 1, units).
        raise DlkitError(f"cannot export the {task} as tflite: dlkit exports encoder-decoders as saved_model or "
                         f"onnx (LiteRT's converter cannot express the recurrent ones without TensorFlow's own ops)")
    if format == "onnx":
        _require("tf2onnx", "onnxruntime")
    _check_output(output, format, folder=True)
    exportable = importlib.import_module(f"dlkit.tasks.{task}.twin").exportable(model)
    endpoints = exportable.graphs.endpoints(exportable.inputs)
    def write_and_check(staged: str) -> float:
        _write_decoder(exportable, endpoints, staged, format)
        return _decoder_difference(endpoints, _decoder_runtime(staged, format), exportable.samples)

    difference, tolerance = _staged_export(model, output, format, DECODER_TOLERANCE[format], write_and_check,
                                           events)
    signatures = {name: [spec.name for spec in fn.input_signature] for name, fn in endpoints.items()}
    return {"input": model, "output": output, "format": format, "inputs": signatures,
            "max_difference": float(f"{difference:.3g}"), "tolerance": tolerance}


def _write_decoder(exportable, endpoints: dict, path: str, format: str) -> None:
    """The two functions, the assets and decoding.json into the folder `path`."""
    import json

    from dlkit.core.runtime import keras

    if format == "saved_model":
        archive = keras.export.ExportArchive()
        for network in exportable.models:
            archive.track(network)  # their variables (and dropout's seed state) go into the SavedModel
        for name, function in endpoints.items():
            archive.add_endpoint(name, function.python_function, input_signature=function.input_signature)
        archive.write_out(path, verbose=False)
        extra = os.path.join(path, "assets.extra")  # SavedModel's place for files of the model's user
    else:
        import tf2onnx

        os.makedirs(path)
        for name, function in endpoints.items():
            tf2onnx.convert.from_function(function, input_signature=list(function.input_signature),
                                          output_path=os.path.join(path, f"{name}.onnx"))
        extra = path
    os.makedirs(extra, exist_ok=True)
    for name, write in exportable.assets.items():
        write(os.path.join(extra, name))
    with open(os.path.join(extra, "decoding.json"), "w") as f:
        json.dump({**exportable.decoding, "signatures": {n: [s.name for s in fn.input_signature]
                                                         for n, fn in endpoints.items()}}, f, indent=1)


def _decoder_runtime(path: str, format: str) -> dict:
    """{"encode": f, "step": f}, each taking named numpy inputs and giving named outputs,
    run by the format's own runtime."""
    if format == "saved_model":
        from dlkit.core.runtime import tf

        loaded = tf.saved_model.load(path)

        def signature(name):
            function = loaded.signatures[name]
            return lambda values: {k: v.numpy() for k, v in function(**{n: tf.constant(x) for n, x in
                                                                          values.items()}).items()}
        runtime = {name: signature(name) for name in ("encode", "step")}
        runtime["_loaded"] = loaded  # its variables live as long as the functions are used
        return runtime
    import onnxruntime

    def session(name):
        graph = onnxruntime.InferenceSession(os.path.join(path, f"{name}.onnx"), providers=["CPUExecutionProvider"])
        names = [o.name for o in graph.get_outputs()]
        return lambda values: dict(zip(names, graph.run(None, values)))
    return {name: session(name) for name in ("encode", "step")}


def _decoder_difference(endpoints: dict, runtime: dict, samples: list[np.ndarray]) -> float:
    """The largest difference between the export and TensorFlow over the encoder's
    outputs and CHECK_STEPS decoder steps on `samples`, both fed the tokens TensorFlow's
    greedy decoding picks (so that both follow the same path)."""
    inputs = {spec.name: x for spec, x in zip(endpoints["encode"].input_signature, samples)}
    expected = {k: v.numpy() for k, v in endpoints["encode"](*samples).items()}
    got = runtime["encode"](inputs)
    worst = max_difference([expected[k] for k in sorted(expected)], [got[k] for k in sorted(expected)])
    states = [name for name in sorted(expected) if name.startswith("state_")]
    context = [name for name in sorted(expected) if name.startswith("context_")]
    step_names = [spec.name for spec in endpoints["step"].input_signature]
    tokens = np.full(len(samples[0]), 1, np.int32)  # any valid id starts the check
    values = {"tokens": tokens, **{n: expected[n] for n in states + context}}
    for _ in range(CHECK_STEPS):
        want = {k: v.numpy() for k, v in endpoints["step"](*(values[n] for n in step_names)).items()}
        have = runtime["step"]({n: values[n] for n in step_names})
        worst = max(worst, max_difference([want[k] for k in sorted(want)], [have[k] for k in sorted(want)]))
        values["tokens"] = want["log_probs"].argmax(-1).astype(np.int32)
        values.update({n: want[f"next_{n}"] for n in states})
    return worst


# ---- Twins: what inference runs (dlkit.core.twins) -------------------------------------

def write_twin(source: str, network: "keras.Model", target: str, metadata: dict | None = None) -> dict:
    """Writes the ONNX twin of `network` (the model in the Keras file `source`, or an
    ImageNet backbone's name) to `target`, checked against Keras as export() checks, and
    stamped with what inference needs: `metadata` and the source's sha256. Returns the
    check's {"max_difference", "tolerance"}."""
    _require("tf2onnx", "onnxruntime", "onnx")
    inputs = sample_inputs(network, CHECK_BATCH)
    expected = [np.asarray(x) for x in _as_list(network(structured(network, inputs), training=False))]

    def write_and_check(staged: str) -> float:
        _write(network, staged, "onnx")
        return max_difference(expected, run_exported(staged, "onnx", network, inputs))

    return _write_checked(source, target, TOLERANCE["onnx"], write_and_check, metadata)


def write_decoder_twin(source: str, exportable, target: dict[str, str], metadata: dict | None = None) -> dict:
    """Writes an encoder-decoder's twin: its encoder and one-token step as the ONNX
    files target["encoder"] and target["step"], checked against TensorFlow over
    CHECK_STEPS steps of decoding, each stamped like write_twin's with `metadata` and
    the decoding settings (start and end ids, lengths, bans)."""
    _require("tf2onnx", "onnxruntime", "onnx")
    import tf2onnx

    endpoints = exportable.graphs.endpoints(exportable.inputs)
    metadata = {**exportable.decoding, **(metadata or {})}
    staging = tempfile.mkdtemp(prefix=".dlkit-twin-", dir=os.path.dirname(os.path.abspath(target["encoder"])))
    try:
        staged = {}
        for name, endpoint in (("encoder", "encode"), ("step", "step")):
            function = endpoints[endpoint]
            staged[name] = os.path.join(staging, f"{endpoint}.onnx")
            tf2onnx.convert.from_function(function, input_signature=list(function.input_signature),
                                          output_path=staged[name])
            _rewrite(staged[name], integer_matmuls_as_float, integer_constants_as_int8)
        difference = _decoder_difference(endpoints, _decoder_runtime(staging, "onnx"), exportable.samples)
        tolerance = DECODER_TOLERANCE["onnx"]
        _refuse_beyond(source, difference, tolerance)
        checked = {"max_difference": float(f"{difference:.3g}"), "tolerance": tolerance}
        for name, path in target.items():
            stamp(staged[name], {**metadata, **checked}, source)
            os.replace(staged[name], path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return checked


def _rewrite(path: str, *rewrites) -> None:
    """Applies each of `rewrites` (ONNX model -> whether it changed it) to the ONNX file
    `path`, read and written once."""
    import onnx

    model = onnx.load(path)
    changed = [rewrite(model) for rewrite in rewrites]  # a list: every rewrite runs
    if any(changed):
        onnx.save(model, path)


def integer_matmuls_as_float(model) -> bool:
    """Rewrites, in the ONNX model, each MatMulInteger without zero points (what
    tf2onnx makes of a Keras int8 layer: its input quantized on the fly, times its int8
    weights) as a float32 MatMul of the same int8 values: the same numbers (the products
    are integers, and their sums stay exact below 2**24, for up to 1040 inputs), about
    twice as fast on ONNX Runtime's CPU provider, which has no fast kernel for int8 times
    int8 (measured: the shipped translator's step, 256 rows, 56 -> 31 ms; TensorFlow 64).
    Returns whether it rewrote any."""
    from onnx import TensorProto, helper, numpy_helper

    constants = {c.name: numpy_helper.to_array(c) for c in model.graph.initializer}
    nodes, changed = [], False
    for node in model.graph.node:
        if node.op_type != "MatMulInteger" or any(
                name and not (name in constants and not constants[name].any()) for name in node.input[2:]):
            nodes.append(node)
            continue
        a, b, product = (f"{node.name}/{part}_float" for part in ("a", "b", "product"))
        nodes += [helper.make_node("Cast", [node.input[0]], [a], to=TensorProto.FLOAT),
                  helper.make_node("Cast", [node.input[1]], [b], to=TensorProto.FLOAT),
                  helper.make_node("MatMul", [a, b], [product]),
                  helper.make_node("Cast", [product], list(node.output), to=TensorProto.INT32)]
        changed = True
    if changed:
        del model.graph.node[:]
        model.graph.node.extend(nodes)
        used = {name for node in nodes for name in node.input}
        kept = [c for c in model.graph.initializer if c.name in used]  # the zero points went with their nodes
        del model.graph.initializer[:]
        model.graph.initializer.extend(kept)
    return changed


def integer_constants_as_int8(model, smallest: int = 1024) -> bool:
    """Stores, in the ONNX model, each float32 constant of at least `smallest`
    values that are all integers from -128 to 127 as int8, cast back to float32 where the
    graph reads it: the same numbers in a quarter of the bytes. Such constants are int8
    weights that TensorFlow casts to float32 itself, which the conversion folds: an int8
    EinsumDense (MultiHeadAttention's projections) over inputs of unknown length runs a
    float einsum of its int8 kernel (Keras' int8 einsum needs every length known). ONNX
    Runtime folds the casts when it loads the graph, so it runs as fast as before.
    Returns whether it stored any."""
    from onnx import TensorProto, helper, numpy_helper

    inputs = {i.name for i in model.graph.input}
    casts = []
    for constant in model.graph.initializer:
        if constant.data_type != TensorProto.FLOAT or np.prod(constant.dims) < smallest or constant.name in inputs:
            continue
        values = numpy_helper.to_array(constant)
        if not (np.array_equal(values, np.round(values)) and -128 <= values.min() and values.max() <= 127):
            continue
        stored = f"{constant.name}/int8"
        casts.append(helper.make_node("Cast", [stored], [constant.name], to=TensorProto.FLOAT))
        constant.CopyFrom(numpy_helper.from_array(values.astype(np.int8), stored))
    if casts:
        nodes = casts + list(model.graph.node)  # first: ONNX wants a value made before a node reads it
        del model.graph.node[:]
        model.graph.node.extend(nodes)
    return bool(casts)


def _write_checked(source: str, target: str, tolerance: float, write_and_check, metadata: dict | None) -> dict:
    staging = tempfile.mkdtemp(prefix=".dlkit-twin-", dir=os.path.dirname(os.path.abspath(target)))
    try:
        staged = os.path.join(staging, "model.onnx")
        difference = write_and_check(staged)
        _refuse_beyond(source, difference, tolerance)
        checked = {"max_difference": float(f"{difference:.3g}"), "tolerance": tolerance}
        stamp(staged, {**(metadata or {}), **checked}, source)
        os.replace(staged, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return checked


def _refuse_beyond(source: str, difference: float, tolerance: float) -> None:
    if not difference <= tolerance:
        raise DlkitError(f"the ONNX twin of {source} differs from Keras by {difference:.3g} (relative to the "
                         f"output scale; tolerance {tolerance:g}); no twin written")


def stamp(path: str, metadata: dict, source: str) -> None:
    """Stores `metadata`, and the sha256 of the Keras file `source` (none for a named
    backbone), as JSON in the ONNX file's metadata under "dlkit" (what twins.Graph reads)."""
    import json

    import onnx

    from dlkit.core import files

    if os.path.isfile(source):
        metadata = {**metadata, "source_sha256": files.sha256(source)}
    graph = onnx.load(path)
    kept = [p for p in graph.metadata_props if p.key != "dlkit"]
    del graph.metadata_props[:]
    graph.metadata_props.extend(kept)
    graph.metadata_props.add(key="dlkit", value=json.dumps(metadata))
    onnx.save(graph, path)


def _with_preprocessing(backbone) -> "keras.Model":
    """The ImageNet classifier taking RGB pixels 0..255, as `dlkit classify` feeds it."""
    from dlkit.core.runtime import keras
    from dlkit.vision import backbones

    net = backbones.build(backbone.name)
    pixels = keras.Input((backbone.input_size, backbone.input_size, 3), name="pixels")
    return keras.Model(pixels, net(backbone.preprocess(pixels)), name=backbone.name)


def sample_inputs(network: "keras.Model", count: int = CHECK_BATCH, seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs of the network's shapes and dtypes: pixels 0..255 for images, small token
    ids (valid in any vocabulary) for integer inputs, standard normal values otherwise."""
    rng = np.random.default_rng(seed)
    found = {}
    for tensor in network.inputs:
        rank = len(tensor.shape)
        image = rank == 4 and tensor.shape[-1] == 3
        side = CHECK_IMAGE_SIDE if image else CHECK_SEQUENCE
        shape = [count] + [d if d is not None else side for d in tensor.shape[1:]]
        dtype = np.dtype(tensor.dtype)
        if np.issubdtype(dtype, np.integer):
            found[tensor.name] = rng.integers(1, 10, shape).astype(dtype)
        elif image:
            found[tensor.name] = rng.uniform(0, 255, shape).astype(dtype)
        else:
            found[tensor.name] = rng.standard_normal(shape).astype(dtype)
    return found


def structured(network: "keras.Model", inputs: dict[str, np.ndarray]):
    """`inputs` (by input name) in the structure the network is called with: one array,
    a list, or a dict (the geolocator's named inputs)."""
    if isinstance(network.input, dict):
        return {key: inputs[tensor.name] for key, tensor in network.input.items()}
    values = [inputs[t.name] for t in network.inputs]
    return values if len(values) > 1 else values[0]


def _write(network: "keras.Model", path: str, format: str) -> None:
    if format == "onnx":
        _require("tf2onnx", "onnxruntime")
    from dlkit.core.quiet import silenced_stderr

    try:
        # LiteRT's converter writes its diagnostics to file descriptor 2 as well as into
        # the error it raises; the error is reported below, in one line.
        with silenced_stderr() if format == "tflite" else contextlib.nullcontext():
            network.export(path, format=FORMATS[format], verbose=False)
    except DlkitError:
        raise
    except Exception as e:
        raise DlkitError(f"cannot export {network.name} as {format}: {_what_failed(e)}") from None


def _what_failed(error: Exception) -> str:
    """One line saying what failed. LiteRT's converter (MLIR) starts its message with a
    trace of locations and names the operation it cannot express further on."""
    text = str(error).strip() or type(error).__name__
    operation = re.search(r"'[\w.]+' op [^\n]*", text)
    return (operation.group(0) if operation else text.splitlines()[0])[:300]


def _require(*modules: str) -> None:
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise DlkitError(f"ONNX export needs {', '.join(missing)}: pip install 'dlkit[export]'")


def run_exported(path: str, format: str, network: "keras.Model", inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The exported model's outputs for `inputs` (by Keras input name), computed by the
    format's own runtime."""
    if format == "saved_model":
        from dlkit.core.runtime import tf

        loaded = tf.saved_model.load(path)  # held: its variables die with it
        return [np.asarray(x) for x in _as_list(loaded.serve(structured(network, inputs)))]
    if format == "tflite":
        return _run_tflite(path, inputs)
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: _by_name(inputs, i.name) for i in session.get_inputs()})


def _run_tflite(path: str, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    from dlkit.core.quiet import silenced_stderr
    from dlkit.core.runtime import tf

    interpreter = tf.lite.Interpreter(model_path=path)
    details = interpreter.get_input_details()
    for detail in details:
        interpreter.resize_tensor_input(detail["index"], _by_name(inputs, detail["name"]).shape)
    try:
        # LiteRT's C++ side writes "Created TensorFlow Lite XNNPACK delegate for CPU." to
        # file descriptor 2 when the tensors are allocated: no log level stops it.
        with silenced_stderr():
            interpreter.allocate_tensors()
            for detail in details:
                interpreter.set_tensor(detail["index"], _by_name(inputs, detail["name"]))
            interpreter.invoke()
    except RuntimeError as e:
        if "Select TensorFlow op" not in str(e):
            raise
        # Keras converts what LiteRT's builtin ops cannot express (a masked or
        # bidirectional recurrent layer's loop, a convolution over images of any size
        # with instance normalization) to TensorFlow ops, which only an interpreter
        # linked with the Flex delegate runs: not the stock one, so it cannot be checked.
        raise DlkitError("this model needs TensorFlow's own ops inside LiteRT (the Flex delegate), which the "
                         "stock interpreter cannot run to check it; export it as saved_model or onnx") from None
    return [interpreter.get_tensor(d["index"]) for d in sorted(interpreter.get_output_details(),
                                                                key=lambda d: d["index"])]


def _by_name(inputs: dict[str, np.ndarray], name: str) -> np.ndarray:
    """The input a runtime names `name`: runtimes keep Keras' name, with their own prefix
    or suffix ("serving_default_doc:0"); a lone input needs no name."""
    if len(inputs) == 1:
        return next(iter(inputs.values()))
    matches = [key for key in inputs if key == name or key in name]
    if not matches:
        raise DlkitError(f"the export has an input {name!r}, the Keras model none of that name")
    return inputs[max(matches, key=len)]


def max_difference(expected: list[np.ndarray], got: list[np.ndarray]) -> float:
    """The largest |got - expected| over all outputs, relative to the largest |expected|
    (at least 1, so that outputs near zero are compared absolutely)."""
    if len(expected) != len(got):
        raise DlkitError(f"the export gives {len(got)} outputs, Keras {len(expected)}")
    worst = 0.0
    for e, g in zip(expected, got):
        g = np.asarray(g)
        if e.shape != g.shape:
            raise DlkitError(f"the export gives an output of shape {g.shape}, Keras {e.shape}")
        scale = max(1.0, float(np.abs(e).max(initial=0.0)))
        worst = max(worst, float(np.abs(g.astype(np.float64) - e).max(initial=0.0)) / scale)
    return worst


def _as_list(outputs) -> list:
    """A model's outputs in the order exports give them: a dict's by key, as Keras'
    ONNX export sorts them."""
    if isinstance(outputs, dict):
        return [outputs[key] for key in sorted(outputs)]
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _check_output(output: str, format: str, folder: bool = False) -> None:
    """A SavedModel, and an encoder-decoder's export in any format, is a new folder."""
    from dlkit.core import files

    if format == "saved_model" or folder:
        files.check_output(output, folder=True)
        if os.path.isdir(output) and os.listdir(output):
            raise DlkitError(f"{output}: the export is written to a new or empty folder, and this one has files")
    else:
        files.check_output(output, (f".{format}",))
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)


def _replace(staged: str, output: str) -> None:
    if os.path.isdir(staged) and os.path.isdir(output):
        os.rmdir(output)  # empty: checked before the export
    os.replace(staged, output)
