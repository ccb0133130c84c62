"""The Python side of `mnist compare`: scikit-learn (softmax, knn, tree,
forest, svm) or PyTorch (dnn, cnn) on the split `mnist` exported
(X_train.npy, y_train.npy, ... as uint8), one JSON line per model on stdout:
accuracy on the test split, fit seconds, and seconds to predict all train +
valid + test images, as `mnist bench` times its own models.

Usage: compare.py DIR MODEL[,MODEL...] [THREADS [PARAMS_JSON | best]]

Form (a), the default: the same configuration as our side. For dnn and cnn,
PARAMS_JSON is our network's hyperparameters (`NetParams` as JSON): the
same layers and training are built here in PyTorch, so both sides train the
same network in the same way. For scikit-learn, PARAMS_JSON is {"seed": N},
the forest's random_state (default 42).

Form (b), `best`: the usual Python recipe for each model (`best_recipes`),
which our side meets with its own defaults.
"""

import copy
import json
import sys
import time

import numpy as np


def load(d):
    parts = {}
    for name in ["train", "valid", "test"]:
        parts[name] = (
            np.load(f"{d}/X_{name}.npy").astype(np.float32),
            np.load(f"{d}/y_{name}.npy"),
        )
    return parts


def models(jobs, seed):
    """The same configuration as `mnist compare` gives our side (form (a));
    `seed` for the forest."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import MinMaxScaler, StandardScaler
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

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
                n_estimators=100, max_features=40, n_jobs=jobs, random_state=seed
            ),
        ),
        "svm": (MinMaxScaler(), SVC(C=5, gamma=0.05)),
    }


def best_recipes(jobs):
    """The usual scikit-learn solutions of the assignment (form (b))."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    return {
        "softmax": (StandardScaler(), LogisticRegression(max_iter=1000)),
        "knn": (None, KNeighborsClassifier(n_neighbors=3, n_jobs=jobs)),
        "tree": (None, DecisionTreeClassifier(random_state=0)),
        "forest": (None, RandomForestClassifier(n_estimators=100, n_jobs=jobs, random_state=42)),
        "svm": (None, SVC()),
    }


def recipe_net(name):
    """The usual PyTorch recipes: for the CNN, pytorch/examples' mnist
    (conv32-conv64-pool-dropout-fc128-dropout, Adadelta lr 1.0, StepLR 0.7,
    batch 64, inputs normalized with MNIST's mean and std), 5 epochs; for the
    DNN, the classic MLP 784-512-256-10 with ReLU and dropout 0.2, Adam
    lr 1e-3, batch 128, 10 epochs."""
    import torch
    import torch.nn as nn

    if name == "cnn":
        model = nn.Sequential(
            nn.Unflatten(1, (1, 28, 28)),
            nn.Conv2d(1, 32, 3), nn.ReLU(),
            nn.Conv2d(32, 64, 3), nn.ReLU(),
            nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(),
            nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(128, 10),
        )
        opt = torch.optim.Adadelta(model.parameters(), lr=1.0)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
        return model, opt, sched, 64, 5, (0.1307, 0.3081)
    model = nn.Sequential(
        nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(512, 256), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(256, 10),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    return model, opt, None, 128, 10, (0.0, 1.0)


def train_recipe(name, parts, jobs):
    """A recipe's own training loop: shuffled batches, cross-entropy, the
    validation accuracy recorded after every epoch; the last epoch's weights."""
    import torch

    torch.set_num_threads(jobs)
    torch.manual_seed(1)
    model, opt, sched, bs, epochs, (mean, std) = recipe_net(name)
    prep = lambda a: (torch.from_numpy(a / 255.0).float() - mean) / std
    x, y = prep(parts["train"][0]), torch.from_numpy(parts["train"][1]).long()
    history = []
    for epoch in range(1, epochs + 1):
        t = time.perf_counter()
        model.train()
        order = torch.randperm(len(x))
        for i in range(0, len(x), bs):
            idx = order[i : i + bs]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
        if sched is not None:
            sched.step()
        valid = accuracy_net(model, parts["valid"], prep)
        history.append({"epoch": epoch, "valid_acc": valid, "seconds": time.perf_counter() - t})
    return model, history, prep


def network(p):
    """Our `Layers` in PyTorch: 3x3 convolutions (no bias) + batch norm + ReLU,
    2x2 max-pooling after each stage; linear + batch norm + ReLU + dropout
    per hidden layer; a linear layer to the 10 logits. Weights start as tch
    starts them (Kaiming-uniform with the ReLU gain; linear biases uniform
    in ±1/sqrt(fan-in) and batch norm scale 1, shift 0: PyTorch's defaults)."""
    import torch.nn as nn

    layers, channels, side = [], 1, 28
    if p["conv"]:
        layers.append(nn.Unflatten(1, (1, 28, 28)))
    for stage in p["conv"]:
        for out in stage:
            layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
            channels = out
        layers.append(nn.MaxPool2d(2))
        side //= 2
    width = 784
    if p["conv"]:
        layers.append(nn.Flatten())
        width = channels * side * side
    for h in p["hidden"]:
        layers += [nn.Linear(width, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(p["dropout"])]
        width = h
    layers.append(nn.Linear(width, 10))
    for layer in layers:
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")
    return nn.Sequential(*layers)


def one_cycle(step, total, peak):
    """Our learning-rate schedule: linear warm-up over the first 20% of the
    steps from peak/10, then cosine decay to zero."""
    import math

    warm = max(total * 0.2, 1.0)
    if step < warm:
        return peak * (0.1 + 0.9 * step / warm)
    t = min((step - warm) / max(total - warm, 1.0), 1.0)
    return peak * 0.5 * (1.0 + math.cos(math.pi * t))


def train_net(p, parts, jobs):
    """Our training loop in PyTorch: Adam, the one-cycle schedule, a seeded
    shuffle per epoch, validation accuracy after every epoch in eval mode and
    the weights of the epoch our KeepRule keeps. Returns the model and its history."""
    import torch

    torch.set_num_threads(jobs)
    torch.manual_seed(p["seed"])
    gen = torch.Generator().manual_seed(p["seed"])
    model = network(p)
    opt = torch.optim.Adam(model.parameters(), lr=p["learning_rate"], weight_decay=p["weight_decay"])
    x = torch.from_numpy(parts["train"][0] / 255.0).float()
    y = torch.from_numpy(parts["train"][1]).long()
    n, bs, epochs = len(x), p["batch_size"], p["epochs"]
    total = epochs * ((n + bs - 1) // bs)
    step, best, top, history = 0, None, 0.0, []
    for epoch in range(1, epochs + 1):
        t = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=gen)
        loss_sum, correct = 0.0, 0
        for i in range(0, n, bs):
            idx = order[i : i + bs]
            xb, yb = x[idx], y[idx]
            for g in opt.param_groups:
                g["lr"] = one_cycle(step, total, p["learning_rate"])
            logits = model(xb)
            loss = torch.nn.functional.cross_entropy(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
            step += 1
        valid = accuracy_net(model, parts["valid"])
        history.append({"epoch": epoch, "loss": loss_sum / n, "valid_acc": valid,
                        "seconds": time.perf_counter() - t})
        # Our KeepRule: the latest epoch within one validation image of the
        # best so far (a tie or a one-image lead is noise).
        top = valid if best is None else max(top, valid)
        if valid >= top - 1.5 / len(parts["valid"][1]):
            best = (valid, copy.deepcopy(model.state_dict()))
    model.load_state_dict(best[1])
    return model, history


def predict_net(model, xs, prep=None):
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        x = prep(xs) if prep else torch.from_numpy(xs / 255.0).float()
        for i in range(0, len(x), 128):
            out.append(model(x[i : i + 128]).argmax(1))
    return torch.cat(out).numpy()


def accuracy_net(model, part, prep=None):
    return float((predict_net(model, part[0], prep) == part[1]).mean())


def compare_net(name, parts, jobs, params):
    import torch

    t = time.perf_counter()
    if params == "best":
        model, history, prep = train_recipe(name, parts, jobs)
    else:
        (model, history), prep = train_net(params, parts, jobs), None
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    acc = {part: accuracy_net(model, parts[part], prep) for part in ["train", "valid", "test"]}
    predict_s = time.perf_counter() - t
    tool = f"PyTorch {torch.__version__.split('+')[0]}"
    return result(name, tool, model, fit_s, predict_s, acc, epochs=history)


def result(name, tool, model, fit_s, predict_s, acc, **extra):
    """One JSON line's object (what `mnist compare` reads)."""
    return {
        "model": name,
        "tool": tool,
        "recipe": repr(model),
        "fit_s": fit_s,
        "predict_s": predict_s,
        "train_acc": acc["train"],
        "valid_acc": acc["valid"],
        "test_acc": acc["test"],
        **extra,
    }


def main():
    d, wanted = sys.argv[1], sys.argv[2].split(",")
    jobs = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    extra = sys.argv[4] if len(sys.argv) > 4 else None
    best = extra == "best"
    params = "best" if best else (json.loads(extra) if extra else {})
    parts = load(d)
    for name in wanted:
        if name in ("dnn", "cnn"):
            print(json.dumps(compare_net(name, parts, jobs, params)), flush=True)
            continue
        import sklearn

        recipes = best_recipes(jobs) if best else models(jobs, params.get("seed", 42))
        scaler, model = recipes[name]
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
        tool = f"scikit-learn {sklearn.__version__}"
        print(json.dumps(result(name, tool, model, fit_s, predict_s, acc)), flush=True)


if __name__ == "__main__":
    main()
