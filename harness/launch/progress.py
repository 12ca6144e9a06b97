"""Progress while training: a live table on a terminal (one row per run: epoch, loss, validation loss, elapsed),
plain line logs when the output is not a terminal or in CI (CI set), so logs stay readable."""

import os
import re
import sys
import time

# The worker's epoch line (harness.jobs.train._epoch_line): "epoch 3/10  loss 0.5312  accuracy ...  val_loss 0.61"
_EPOCH = re.compile(r"epoch (?P<epoch>\d+)/(?P<epochs>\d+)\s+loss (?P<loss>\S+)(?:.*val_loss (?P<val_loss>\S+))?")


def parse_epoch_line(text: str) -> dict:
    """{epoch, epochs, loss[, val_loss]} from a worker's epoch line; {} for any other line."""
    match = _EPOCH.search(text)
    if not match:
        return {}
    return {key: value for key, value in match.groupdict().items() if value is not None}


def live_wanted(stream=None) -> bool:
    """Whether to draw the live table: on a terminal, outside CI. sys.stdout is looked up at each call (a default
    bound at import would keep the stream of whoever imported this module first)."""
    stream = sys.stdout if stream is None else stream
    return stream.isatty() and not os.environ.get("CI")


class Progress:
    """Receives every worker line for a (framework, seed) run; shows a live table or prints the line."""

    def __init__(self, runs: list[tuple[str, int]], live: bool = False, echo=print):
        self.echo, self.live = echo, None
        self.rows = {run: {"status": "waiting", "epoch": "", "loss": "", "val_loss": "", "elapsed": ""}
                     for run in runs}
        self.started: dict = {}
        if live:
            from rich.live import Live

            self.live = Live(self._table(), refresh_per_second=4, transient=False)
            self.live.start()

    def _table(self):
        from rich.table import Table

        table = Table(title="training")
        for column in ("framework", "seed", "status", "epoch", "loss", "val loss", "elapsed (s)"):
            table.add_column(column)
        for (framework, seed), row in self.rows.items():
            table.add_row(framework, str(seed), row["status"], row["epoch"], row["loss"], row["val_loss"],
                          row["elapsed"])
        return table

    def _elapsed(self, run) -> str:
        return f"{time.perf_counter() - self.started[run]:.1f}" if run in self.started else ""

    def line(self, framework: str, seed: int, text: str) -> None:
        if self.live is None:
            self.echo(f"[{framework} seed {seed}] {text}")
            return
        row = self.rows[(framework, seed)]
        self.started.setdefault((framework, seed), time.perf_counter())
        row["status"], row["elapsed"] = "running", self._elapsed((framework, seed))
        parsed = parse_epoch_line(text)
        if parsed:
            row.update(epoch=f"{parsed['epoch']}/{parsed['epochs']}", loss=parsed["loss"],
                       val_loss=parsed.get("val_loss", ""))
        self.live.update(self._table())

    def finish(self, framework: str, seed: int, status: str, error: str = "") -> None:
        if self.live is None:
            if status != "ok":
                self.echo(f"[{framework} seed {seed}] {status}" + (f": {error}" if error else ""))
            return
        self.rows[(framework, seed)].update(status=status, elapsed=self._elapsed((framework, seed)))
        self.live.update(self._table())

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
