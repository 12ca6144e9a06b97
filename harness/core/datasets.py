"""A spec's dataset as raw arrays: scikit-learn's datasets and generators, MNIST-1D generated locally, or the
user's csv / npz file (`harness.core.data_files`). Nothing is downloaded."""

from harness.core import data_files
from harness.core.data_files import Raw
from harness.core.spec import DataSpec


def _sklearn(name: str, data: DataSpec) -> Raw:
    import sklearn.datasets as skd

    loaders = {"digits": skd.load_digits, "iris": skd.load_iris, "wine": skd.load_wine,
               "breast_cancer": skd.load_breast_cancer, "diabetes": skd.load_diabetes}
    if name in loaders:
        x, y = loaders[name](return_X_y=True)
        return Raw(x, y, None, None, "regression" if name == "diabetes" else "classification")
    if name == "moons":
        x, y = skd.make_moons(data.n_samples, noise=0.2 if data.noise is None else data.noise, random_state=data.seed)
        return Raw(x, y, None, None, "classification")
    if name == "blobs":
        x, y = skd.make_blobs(data.n_samples, n_features=data.n_features, centers=data.n_classes,
                              random_state=data.seed)
        return Raw(x, y, None, None, "classification")
    x, y = skd.make_regression(data.n_samples, n_features=data.n_features,
                               noise=10.0 if data.noise is None else data.noise, random_state=data.seed)
    return Raw(x, y, None, None, "regression")


def _mnist1d() -> Raw:
    from mnist1d.data import get_dataset_args, make_dataset

    made = make_dataset(get_dataset_args())  # the standard 4000 / 1000 split, generated locally
    return Raw(made["x"], made["y"], made["x_test"], made["y_test"], "classification")


def load_raw(data: DataSpec) -> Raw:
    if data.dataset == "mnist1d":
        return _mnist1d()
    if data.dataset == "csv":
        return data_files.read_csv(data)
    if data.dataset == "npz":
        return data_files.read_npz(data)
    return _sklearn(data.dataset, data)
