"""The Python side of `mnist compare`: scikit-learn on the split `mnist`
exported (X_train.npy, y_train.npy, ... as uint8), one JSON line per model on
stdout: accuracy on the test split, fit seconds, and seconds to predict all
train + valid + test images, as `mnist bench` times its own models.

Usage: compare.py DIR MODEL[,MODEL...] (threads from OMP_NUM_THREADS / --jobs)
"""

import json
import sys
import time

import numpy as np
import sklearn
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier


def load(d):
    parts = {}
    for name in ["train", "valid", "test"]:
        parts[name] = (
            np.load(f"{d}/X_{name}.npy").astype(np.float32),
            np.load(f"{d}/y_{name}.npy"),
        )
    return parts


def models(jobs):
    """The same configuration as `mnist compare` gives our side (form (a))."""
    return {
        # Our α = 300 is scikit-learn's C = 1/300 (the same L2-penalized
        # multinomial objective), on standardized pixels.
        "softmax": (
            StandardScaler(),
            LogisticRegression(C=1 / 300, max_iter=300, tol=1e-6),
        ),
        "knn": (None, KNeighborsClassifier(n_neighbors=4, n_jobs=jobs)),
        "tree": (None, DecisionTreeClassifier(criterion="entropy", random_state=0)),
        "forest": (
            None,
            RandomForestClassifier(
                n_estimators=100, max_features=40, n_jobs=jobs, random_state=42
            ),
        ),
        "svm": (MinMaxScaler(), SVC(C=5, gamma=0.05)),
    }


def main():
    d, wanted = sys.argv[1], sys.argv[2].split(",")
    jobs = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    parts = load(d)
    table = models(jobs)
    for name in wanted:
        scaler, model = table[name]
        if name == "knn":
            prep = lambda a: a / 255.0
        elif scaler is not None:
            prep = scaler.fit(parts["train"][0]).transform
        else:
            prep = lambda a: a
        t = time.perf_counter()
        model.fit(prep(parts["train"][0]), parts["train"][1])
        fit_s = time.perf_counter() - t
        acc = {}
        t = time.perf_counter()
        for part in ["train", "valid", "test"]:
            xp, yp = parts[part]
            acc[part] = float((model.predict(prep(xp)) == yp).mean())
        predict_s = time.perf_counter() - t
        print(
            json.dumps(
                {
                    "model": name,
                    "tool": f"scikit-learn {sklearn.__version__}",
                    "recipe": repr(model),
                    "fit_s": fit_s,
                    "predict_s": predict_s,
                    "train_acc": acc["train"],
                    "valid_acc": acc["valid"],
                    "test_acc": acc["test"],
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
