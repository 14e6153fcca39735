#!/usr/bin/python3
"""edgeflow_sklearn - export fitted scikit-learn models as edgeflow model directories.

Writes the MLflow model directory with the `edgeflow` flavour that docs/model-format.md defines
(MLmodel, model.json, input_example.json), so models fitted in a notebook can be served by the C
server (`edgeflow predict`, `edgeflow serve`). Needs only Debian's python3-numpy,
python3-sklearn and python3-yaml.

Supported estimators: ElasticNet, Lasso, Ridge, LinearRegression, LogisticRegression,
LinearDiscriminantAnalysis (svd solver), MLPClassifier and MLPRegressor, alone or as the last
step of a Pipeline whose earlier steps are Normalizer(norm="l2") or StandardScaler.

    from edgeflow_sklearn import save_model
    save_model(fitted_estimator, "model_dir", feature_names=[...], input_example=X[:5],
               target="quality")

Command line: python3 edgeflow_sklearn.py --help
"""
import argparse
import datetime
import json
import math
import numbers
import os
import shutil
import sys
import uuid
import warnings

import numpy as np
import yaml

EDGEFLOW_VERSION = "0.1.0"
FORMAT_VERSION = 1
MLFLOW_VERSION = "2.12.2"
MODEL_FILE = "model.json"
EXAMPLE_FILE = "input_example.json"
EXAMPLE_ROWS = 5


class ExportError(ValueError):
    """The estimator (or an argument) cannot be written in the edgeflow format."""


# ---- estimators -----------------------------------------------------------------------------

def _vec(a):
    return [float(x) for x in np.asarray(a, dtype=float).ravel()]


def _rows(a):
    a = np.asarray(a, dtype=float)
    return [[float(x) for x in row] for row in a]


def _linear_weights(est):
    coef = np.asarray(est.coef_, dtype=float)
    if coef.ndim == 2 and coef.shape[0] != 1:
        raise ExportError(f"{type(est).__name__} was fitted on {coef.shape[0]} targets; edgeflow "
                          "models predict one target (fit one model per target)")
    intercept = np.asarray(est.intercept_, dtype=float).ravel()
    return {"coef": _vec(coef), "intercept": float(intercept[0]) if intercept.size else 0.0}


def _logistic_weights(est):
    k = len(est.classes_)
    mc = est.multi_class
    ovr = mc in ("ovr", "warn") or (
        mc == "auto" and (k <= 2 or est.solver in ("liblinear", "newton-cholesky")))
    coef = np.asarray(est.coef_, dtype=float)
    intercept = np.asarray(est.intercept_, dtype=float).ravel()
    if intercept.size == 0 or not est.fit_intercept:
        intercept = np.zeros(coef.shape[0])
    if k > 2 and ovr:
        raise ExportError(
            "LogisticRegression with one-vs-rest probabilities (multi_class='ovr', or solver "
            f"'{est.solver}') is not supported for {k} classes: edgeflow uses the softmax; refit "
            "with multi_class='multinomial' and a solver like 'lbfgs'")
    if k == 2 and not ovr:
        # multinomial on two classes: scikit-learn's probability is softmax([-z, z]) =
        # expit(2z), so the stored decision function is 2z (same sign, same classes).
        coef, intercept = 2 * coef, 2 * intercept
    return {"coef": _rows(coef), "intercept": _vec(intercept)}


def _lda_weights(est):
    if est.solver != "svd":
        raise ExportError(f"LinearDiscriminantAnalysis(solver='{est.solver}') is not supported: "
                          "refit with solver='svd' (the default)")
    ncomp = est._max_components
    scalings = np.asarray(est.scalings_, dtype=float)[:, :ncomp]
    w = {"coef": _rows(np.atleast_2d(est.coef_)), "intercept": _vec(est.intercept_),
         "scalings": _rows(scalings), "xbar": _vec(est.xbar_), "means": _rows(est.means_),
         "priors": _vec(est.priors_),
         "explained_variance_ratio": _vec(est.explained_variance_ratio_)}
    if getattr(est, "covariance_", None) is not None:
        w["covariance"] = _rows(est.covariance_)
    return w


def _mlp_weights(est):
    if getattr(est, "n_outputs_", 1) != 1 and type(est).__name__ == "MLPRegressor":
        raise ExportError(f"MLPRegressor was fitted on {est.n_outputs_} targets; edgeflow models "
                          "predict one target")
    lb = getattr(est, "_label_binarizer", None)
    if lb is not None and getattr(lb, "y_type_", "") == "multilabel-indicator":
        raise ExportError("multi-label MLPClassifier models are not supported (one label per row)")
    return {"activation": est.activation, "out_activation": est.out_activation_,
            "coefs": [_rows(c) for c in est.coefs_],
            "intercepts": [_vec(b) for b in est.intercepts_]}


def _supported():
    """scikit-learn class -> (edgeflow estimator, public class path, task, weights function)."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.linear_model import (ElasticNet, Lasso, LinearRegression, LogisticRegression,
                                      Ridge)
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    lm = "sklearn.linear_model."
    return {
        ElasticNet: ("elasticnet", lm + "ElasticNet", "regression", _linear_weights),
        Lasso: ("lasso", lm + "Lasso", "regression", _linear_weights),
        Ridge: ("ridge", lm + "Ridge", "regression", _linear_weights),
        LinearRegression: ("linear_regression", lm + "LinearRegression", "regression",
                           _linear_weights),
        LogisticRegression: ("logistic_regression", lm + "LogisticRegression", "classification",
                             _logistic_weights),
        LinearDiscriminantAnalysis: (
            "lda", "sklearn.discriminant_analysis.LinearDiscriminantAnalysis", "classification",
            _lda_weights),
        MLPClassifier: ("mlp_classifier", "sklearn.neural_network.MLPClassifier",
                        "classification", _mlp_weights),
        MLPRegressor: ("mlp_regressor", "sklearn.neural_network.MLPRegressor", "regression",
                       _mlp_weights),
    }


def supported_estimators():
    """Names of the scikit-learn classes save_model accepts."""
    return sorted(c.__name__ for c in _supported())


# ---- preprocessing --------------------------------------------------------------------------

def _preprocess_step(step, d):
    """One preprocessing step as model.json's {"op": ...}; step is a fitted Normalizer or
    StandardScaler, the string "normalize" / "l2", or an op dict already in the format."""
    from sklearn.preprocessing import Normalizer, StandardScaler
    if isinstance(step, str) and step in ("normalize", "l2"):
        return {"op": "normalize", "norm": "l2"}
    if isinstance(step, dict):
        op = step.get("op")
        if op == "normalize" and step.get("norm", "l2") == "l2":
            return {"op": "normalize", "norm": "l2"}
        if op == "standard_scaler":
            mean, scale = _vec(step["mean"]), _vec(step["scale"])
            if len(mean) != d or len(scale) != d or not all(scale):
                raise ExportError(f"standard_scaler needs {d} means and {d} nonzero scales")
            return {"op": "standard_scaler", "mean": mean, "scale": scale}
        raise ExportError(f"unknown preprocess step {step!r}: use {{'op': 'normalize', 'norm': "
                          "'l2'}} or {'op': 'standard_scaler', 'mean': [...], 'scale': [...]}")
    if isinstance(step, Normalizer):
        if step.norm != "l2":
            raise ExportError(f"Normalizer(norm='{step.norm}') is not supported; only norm='l2'")
        return {"op": "normalize", "norm": "l2"}
    if isinstance(step, StandardScaler):
        if not hasattr(step, "n_features_in_"):
            raise ExportError("the StandardScaler is not fitted")
        mean = step.mean_ if step.with_mean else np.zeros(step.n_features_in_)
        scale = step.scale_ if step.with_std and step.scale_ is not None \
            else np.ones(step.n_features_in_)
        return _preprocess_step({"op": "standard_scaler", "mean": mean, "scale": scale}, d)
    raise ExportError(f"preprocessing step {type(step).__name__} is not supported; edgeflow "
                      "applies Normalizer(norm='l2') and StandardScaler")


def _unwrap(estimator):
    """(final estimator, [preprocessing steps], the object whose feature_names_in_ to use)."""
    from sklearn.pipeline import Pipeline
    if isinstance(estimator, Pipeline):
        steps = [s for _, s in estimator.steps]
        pre = [s for s in steps[:-1] if s not in (None, "passthrough")]
        return steps[-1], pre, estimator
    return estimator, [], estimator


# ---- values ---------------------------------------------------------------------------------

def _param_value(v):
    """A get_params() value as JSON, or raises TypeError when it has no JSON form."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real):
        if not math.isfinite(float(v)):
            raise TypeError("not finite")
        return float(v)
    if isinstance(v, (list, tuple, np.ndarray)):
        a = np.asarray(v)
        if a.ndim == 1 and a.size and a.dtype.kind in "iu":
            return [int(x) for x in a]
        if a.ndim == 1 and a.size and a.dtype.kind == "f" and np.all(np.isfinite(a)):
            return ",".join(repr(float(x)) for x in a)  # e.g. LDA priors "0.2,0.8"
    raise TypeError(type(v).__name__)


def _params(est):
    out = {}
    for k, v in sorted(est.get_params(deep=False).items()):
        try:
            out[k] = _param_value(v)
        except TypeError:
            warnings.warn(f"{type(est).__name__} parameter {k}={v!r} has no JSON form and is not "
                          "stored in model.json (edgeflow shows its default)", stacklevel=3)
    return out


def _classes(est):
    """(classes, class_names or None): numeric labels as numbers (integral ones as ints), any
    other labels as names with classes 0..K-1."""
    c = np.asarray(est.classes_)
    if c.dtype.kind in "iuf":
        return [int(x) if float(x).is_integer() and abs(x) < 9e15 else float(x) for x in c], None
    return list(range(len(c))), [str(x) for x in c]


def _input_example(example, names):
    """The first rows of example as MLflow's pandas "split" orientation."""
    if example is None:
        return None
    cols = getattr(example, "columns", None)
    if isinstance(example, dict):
        if "columns" not in example or "data" not in example:
            raise ExportError("input_example as a dict must be {'columns': [...], 'data': [[...]]}")
        return {"columns": list(example["columns"]),
                "data": [list(r) for r in example["data"][:EXAMPLE_ROWS]]}
    if cols is not None:  # a pandas DataFrame: take the model's columns by name when present
        cols = [str(c) for c in cols]
        if all(n in cols for n in names):
            example = example[names]
        example = example.to_numpy()
    a = np.asarray(example, dtype=float)
    if a.ndim == 1:
        a = a.reshape(1, -1)
    if a.ndim != 2 or a.shape[1] != len(names):
        raise ExportError(f"input_example has shape {a.shape}; expected rows of {len(names)} "
                          "features")
    return {"columns": list(names), "data": [[float(x) for x in r] for r in a[:EXAMPLE_ROWS]]}


# ---- writing --------------------------------------------------------------------------------

def _mlmodel(est_name, names, classes, class_names, task, has_example):
    if class_names is not None:
        out_type = "string"
    elif task == "classification":
        out_type = "long" if all(isinstance(c, int) for c in classes) else "double"
    else:
        out_type = "double"
    inputs = [{"type": "double", "name": n, "required": True} for n in names]
    now = datetime.datetime.now(datetime.timezone.utc)
    doc = {
        "artifact_path": "model",
        "flavors": {"edgeflow": {"estimator": est_name, "model_file": MODEL_FILE,
                                 "edgeflow_version": EDGEFLOW_VERSION,
                                 "format_version": FORMAT_VERSION}},
        "mlflow_version": MLFLOW_VERSION,
        "model_uuid": uuid.uuid4().hex,
        "utc_time_created": now.strftime("%Y-%m-%d %H:%M:%S.%f"),
        "signature": {"inputs": json.dumps(inputs),
                      "outputs": json.dumps([{"type": out_type, "required": True}]),
                      "params": None},
    }
    if has_example:
        doc["saved_input_example_info"] = {"artifact_path": EXAMPLE_FILE, "type": "dataframe",
                                           "pandas_orient": "split"}
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=1 << 30)


def _dump_json(obj, what):
    try:
        return json.dumps(obj, indent=1, allow_nan=False) + "\n"
    except ValueError as e:
        raise ExportError(f"{what} holds NaN or infinite numbers; the model cannot be "
                          "exported") from e


def build_model_json(estimator, feature_names=None, preprocess=None, target=None):
    """The model.json document for a fitted estimator (see save_model) as a dict."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted
    table = _supported()
    est, pipe_pre, named = _unwrap(estimator)
    entry = table.get(type(est))
    if entry is None:
        raise ExportError(f"{type(est).__name__} is not supported; edgeflow exports "
                          + ", ".join(supported_estimators())
                          + " (alone or after Normalizer/StandardScaler in a Pipeline)")
    try:
        check_is_fitted(est)
    except NotFittedError as e:
        raise ExportError(f"the {type(est).__name__} is not fitted: call fit() first") from e
    name, sk_class, task, weights_fn = entry
    d = int(est.n_features_in_)
    if feature_names is None:
        feature_names = getattr(named, "feature_names_in_", None)
    names = [str(n) for n in feature_names] if feature_names is not None \
        else [f"f{j}" for j in range(d)]
    if len(names) != d or len(set(names)) != d:
        raise ExportError(f"the model has {d} features; feature_names must be {d} distinct names "
                          f"(got {len(names)})")
    if pipe_pre and preprocess is not None:
        raise ExportError("give preprocess or a Pipeline with preprocessing steps, not both")
    steps = pipe_pre if pipe_pre else preprocess
    if steps is None:
        steps = []
    elif isinstance(steps, (str, dict)) or not isinstance(steps, (list, tuple)):
        steps = [steps]
    doc = {
        "format": "edgeflow-model",
        "format_version": FORMAT_VERSION,
        "estimator": name,
        "sklearn_class": sk_class,
        "task": task,
        "params": _params(est),
        "n_features": d,
        "feature_names": names,
        "feature_types": ["double"] * d,
    }
    if target is not None:
        doc["target"] = str(target)
    if task == "classification":
        classes, class_names = _classes(est)
        doc["classes"] = classes
        if class_names is not None:
            doc["class_names"] = class_names
    doc["preprocess"] = [_preprocess_step(s, d) for s in steps]
    doc["weights"] = weights_fn(est)
    return doc


def save_model(estimator, path, feature_names=None, input_example=None, preprocess=None,
               target=None, overwrite=False):
    """Writes a fitted scikit-learn estimator as an edgeflow model directory at path.

    estimator: a fitted supported estimator, or a Pipeline of Normalizer(norm="l2") /
        StandardScaler steps ending in one (the steps become model.json "preprocess").
    feature_names: the input column names (default: the estimator's feature_names_in_ when it
        was fitted on a DataFrame, else f0, f1, ...). `edgeflow predict` matches CSV columns by
        these names.
    input_example: a few rows (DataFrame, array or {"columns", "data"}) for input_example.json.
    preprocess: steps applied to inputs before the estimator when they are not in a Pipeline:
        "normalize" (sklearn.preprocessing.normalize, L2), a fitted Normalizer/StandardScaler, an
        op dict, or a list of those.
    target: the name of the predicted column (informational).
    overwrite: replace an existing directory at path (otherwise FileExistsError).

    Returns path. Raises ExportError (a ValueError) naming what is not supported, e.g. an
    unsupported estimator (the message lists the supported ones) or a one-vs-rest
    LogisticRegression with more than two classes. The directory is written under a temporary
    name and renamed into place, so a reader never sees half a model.
    """
    doc = build_model_json(estimator, feature_names, preprocess, target)
    example = _input_example(input_example, doc["feature_names"])
    model_text = _dump_json(doc, "the model")
    example_text = _dump_json(example, "input_example") if example is not None else None
    mlmodel = _mlmodel(doc["estimator"], doc["feature_names"], doc.get("classes"),
                       doc.get("class_names"), doc["task"], example is not None)
    path = os.fspath(path)
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} already exists; choose another path or pass "
                              "overwrite=True")
    tmp = f"{path.rstrip(os.sep)}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        files = {"MLmodel": mlmodel, MODEL_FILE: model_text}
        if example_text is not None:
            files[EXAMPLE_FILE] = example_text
        for fname, text in files.items():
            with open(os.path.join(tmp, fname), "w", encoding="utf-8") as f:
                f.write(text)
        if os.path.exists(path):
            shutil.rmtree(path)
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


# ---- command line ---------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="edgeflow_sklearn.py",
        description="Export a fitted scikit-learn model (a pickle or joblib file) as an edgeflow "
                    "model directory that `edgeflow predict` and `edgeflow serve` load. "
                    "Supported: " + ", ".join(supported_estimators())
                    + "; optionally inside a Pipeline after Normalizer(norm='l2') or "
                    "StandardScaler.",
        epilog="Only load pickles you trust: unpickling runs code. Example: "
               "python3 edgeflow_sklearn.py model.pkl out/model --example train.csv "
               "--target quality")
    ap.add_argument("pickle", nargs="?", help="the fitted estimator (pickle.dump/joblib.dump)")
    ap.add_argument("output", nargs="?", help="the model directory to create")
    ap.add_argument("--feature-names", help="comma-separated input column names "
                    "(default: the estimator's feature_names_in_, the --example header, f0..)")
    ap.add_argument("--example", metavar="CSV", help="a CSV with a header; its first rows become "
                    "input_example.json and its header the feature names (columns that are not "
                    "features, like the target, are dropped when names are known)")
    ap.add_argument("--sep", default=None, help="--example's separator (default: sniffed)")
    ap.add_argument("--target", help="name of the predicted column")
    ap.add_argument("--preprocess", choices=["normalize"], help="inputs are L2-normalised "
                    "(sklearn.preprocessing.normalize) before the estimator")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing output dir")
    ap.add_argument("--list", action="store_true", help="print the supported estimators")
    a = ap.parse_args(argv)
    if a.list:
        print("\n".join(supported_estimators()))
        return 0
    if not a.pickle or not a.output:
        ap.error("give the pickle file and the output directory (or --list)")
    try:
        import joblib
        est = joblib.load(a.pickle)
    except ImportError:
        import pickle
        with open(a.pickle, "rb") as f:
            est = pickle.load(f)
    names = a.feature_names.split(",") if a.feature_names else None
    example = None
    if a.example:
        import pandas as pd
        df = pd.read_csv(a.example, sep=a.sep, engine="python", nrows=EXAMPLE_ROWS)
        if a.target and a.target in df.columns:
            df = df.drop(columns=[a.target])
        if names is None and getattr(est, "feature_names_in_", None) is None:
            names = [str(c) for c in df.columns]
        example = df
    try:
        save_model(est, a.output, feature_names=names, input_example=example,
                   preprocess=a.preprocess, target=a.target, overwrite=a.overwrite)
    except (ExportError, FileExistsError) as e:
        print(f"edgeflow_sklearn: {e}", file=sys.stderr)
        return 1
    print(a.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
