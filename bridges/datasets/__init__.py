"""Datasets from their canonical files: MNIST and Fashion-MNIST (IDX), CIFAR-10 (python batches or a
JPEG mirror) and image folders with one subfolder per class (ImageNet-100 style).

One module per concern, every public name importable from here:

| module     | what                                                                            |
|------------|---------------------------------------------------------------------------------|
| `paths`    | `data_dir` ($EVSIM_DATA), `cache_dir` ($EVSIM_CACHE), `REPO_DATA`               |
| `idx`      | `read_idx`, `write_idx`, `load_idx_dataset` (MNIST, Fashion-MNIST, mnist-sample) |
| `download` | `DOWNLOADS` (URLs and MD5s), `download_file`, `fetch_url`, `ChecksumError`      |
| `cifar`    | `read_cifar10_python`, `load_cifar10`, `cifar10_source`, `CIFAR10_CLASSES`      |
| `images`   | `load_image_folder` (folders or .tar/.tar.gz archives, cached decoding)         |

Where to look: the `root` argument, else the environment variable EVSIM_DATA, else `data/` in the
repository. Layout under that data directory:

- `mnist/`, `fashion-mnist/`: the four files the home pages serve,
  `{train,t10k}-images-idx3-ubyte[.gz]` and `{train,t10k}-labels-idx1-ubyte[.gz]`.
- `cifar-10-python.tar.gz` (read in place) or its extracted folder `cifar-10-batches-py/`.
- `cifar10-jpeg/cifar10-jpeg.tar.gz`: the JPEG mirror of CIFAR-10 (`{train,test}/<class>/*.jpg`),
  used only when the python batches are absent.

`mnist-sample` (the first 1,000 MNIST test images) always comes from the repository's own data/.

Missing MNIST, Fashion-MNIST and CIFAR-10 (python) files are fetched from their home pages with
`download=True`, checked against the published MD5s before they are kept. Decoded image folders are
cached as .npz (see `cache_dir`), so the second load of 60,000 JPEGs takes a fraction of a second.
To replace the network (tests), patch `bridges.datasets.download.fetch_url`: the name re-exported
here is a reference, not the one the downloads call.
"""

from .cifar import CIFAR10_ARCHIVE, CIFAR10_CLASSES, CIFAR10_FOLDER, CIFAR10_JPEG, cifar10_source, load_cifar10, read_cifar10_python
from .download import DOWNLOADS, ChecksumError, download_file, fetch_url, file_md5
from .idx import IDX_DATASETS, SAMPLE_DATASETS, load_idx_dataset, read_idx, write_idx
from .images import IMAGE_EXTENSIONS, load_image_folder
from .paths import CACHE_ENV, DATA_ENV, REPO_DATA, cache_dir, data_dir

__all__ = [
    "CACHE_ENV", "CIFAR10_ARCHIVE", "CIFAR10_CLASSES", "CIFAR10_FOLDER", "CIFAR10_JPEG", "DATA_ENV", "DOWNLOADS",
    "IDX_DATASETS", "IMAGE_EXTENSIONS", "REPO_DATA", "SAMPLE_DATASETS", "ChecksumError", "cache_dir", "cifar10_source",
    "data_dir", "download_file", "fetch_url", "file_md5", "load_cifar10", "load_idx_dataset", "load_image_folder",
    "read_cifar10_python", "read_idx", "write_idx",
]  # fmt: skip
