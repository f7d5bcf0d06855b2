"""`ktbert train` and `ktbert lr-find`: DATA read into DataFrames, the arguments into
`TrainingSettings`, and the training recipe run on them.

No training logic lives here: `train` is `train_classifier`, and `lr-find` is the recipe's
`build_learner` followed by `Learner.lr_find`.
"""

from __future__ import annotations

import os

from ktbert.cli.parser import DEFAULT_LABEL_SEP
from ktbert.cli.reports import print_report
from ktbert.cli.schedule_options import SCHEDULE_DEFAULTS, checkpoint_folder_for
from ktbert.data.reading import read_data
from ktbert.evaluate.report import check_report_path
from ktbert.saving.manifest import MANIFEST
from ktbert.recipe.training_run import build_learner, train_classifier
from ktbert.recipe.settings import TrainingSettings

PLOT_FORMATS = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


def settings_from(args, **more) -> TrainingSettings:
    """The recipe's settings from the data and recipe arguments (validated when made)."""
    labels = args.label_column
    label_sep = args.label_sep
    if label_sep is None and args.multilabel and len(labels) == 1:
        label_sep = DEFAULT_LABEL_SEP
    return TrainingSettings(
        args.text_column, labels[0] if len(labels) == 1 else list(labels), maxlen=args.maxlen,
        encoder=args.encoder, label_sep=label_sep, truncation=args.truncation, val_pct=args.val_pct,
        batch_size=args.batch_size, seed=args.seed, weight_decay=args.weight_decay, verbose=0 if args.quiet else 1,
        **more,
    )


def read_frames(args, settings: TrainingSettings):
    """DATA and, when given, --val and --test, as DataFrames (None for those not given)."""
    label = settings.label_columns

    def read(path):
        if path is None:
            return None
        return read_data(path, settings.text_column, label, sep=args.sep, encoding=args.encoding)

    return read(args.data), read(args.val), read(getattr(args, "test", None))


def check_output_folder(folder: str) -> None:
    """Refuses, before training, an --output that saving would refuse after it."""
    if not os.path.exists(folder):
        return
    if not os.path.isdir(folder):
        raise FileExistsError(f"`--output` {folder!r} is a file: name a folder to save the predictor in.")
    present = sorted(os.listdir(folder))
    if present and MANIFEST not in present:
        raise FileExistsError(
            f"`--output` {folder!r} holds files that are not a ktbert save ({present[:5]}); choose "
            "another folder so nothing is lost."
        )


def train(args) -> int:
    """`ktbert train`: trains with the recipe, prints the report, saves the predictor."""
    if args.checkpoint_every is not None and args.checkpoint_folder is None:
        args.checkpoint_folder = args.resume if args.resume is not None else checkpoint_folder_for(args.output)
    settings = settings_from(
        args, epochs=args.epochs, lr=args.lr, class_weight=args.class_weight, calibrate=args.calibrate,
        tune_thresholds=args.tune_thresholds, precision=args.precision, output=args.output,
        **{name: getattr(args, name) for name in SCHEDULE_DEFAULTS},  # same names as the settings' fields
    )
    check_output_folder(args.output)
    if args.report is not None:  # refused now, not after training
        check_report_path(args.report, "--report")
    train_df, val_df, test_df = read_frames(args, settings)
    if settings.checkpoint_every is not None:
        print(f"writing the training state every {settings.checkpoint_every} steps to {settings.checkpoint_folder}; "
              f"if the run is killed, run the same command with --resume {settings.checkpoint_folder}")
    run = train_classifier(settings, train_df, val_df, test_df)
    trained = len(run.learner.history.epoch)
    if trained < settings.epochs:
        print(f"stopped early after {trained} of {settings.epochs} epochs ({settings.monitor} stopped improving); "
              "kept the best epoch's weights")
    if settings.lr == "auto":
        print(f"trained at the learning-rate finder's suggestion: lr={run.lr:.3g}")
    print_report(run.interpret(), run.scores, "test" if test_df is not None else "validation")
    print(f"\nsaved the predictor to {settings.output}")
    if args.report is not None:
        import matplotlib

        matplotlib.use("Agg")  # the figures go into the file; no window, also without a display
        print(f"wrote the report to {run.report(args.report)}")
    return 0


def lr_find(args) -> int:
    """`ktbert lr-find`: builds the recipe's learner, runs `lr_find`, saves the plot."""
    import matplotlib

    matplotlib.use("Agg")  # the plot goes to a file; no window, also without a display
    check_plot_path(args.plot)
    settings = settings_from(args)
    train_df, val_df, _ = read_frames(args, settings)
    learner = build_learner(settings, train_df, val_df)[0]
    learner.lr_find(num_it=args.num_it, verbose=settings.verbose)
    learner.lr_plot(save_path=args.plot)
    print(f"\nsaved the plot to {args.plot}")
    if not learner.lr_suggestions:
        print("lr_find stopped too early to suggest a rate: try more --num-it or a larger DATA.")
    for name, rate in learner.lr_suggestions.items():
        print(f"{name}: {rate:.2e}")
    return 0


def check_plot_path(path: str) -> None:
    """Refuses, before the finder runs, a --plot that could not be written."""
    extension = os.path.splitext(path)[1].lower()
    if extension not in PLOT_FORMATS:
        raise ValueError(f"`--plot` must name a {'/'.join(PLOT_FORMATS)} file. Received: {path!r}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"`--plot` {path!r}: the folder {folder!r} does not exist.")
