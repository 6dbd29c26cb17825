"""Multi-task classification (run_mt_classifier): one shared encoder, one head per dataset.

Every batch holds examples of one task; the batches of all tasks are shuffled together each
epoch. Model selection uses the mean dev accuracy over the tasks."""
import os

import torch
import torch.nn.functional as F

from uer.errors import UerError
from uer.finetune.batching import length_sorted_batches, pad_src_seg, shuffled_batches
from uer.finetune.metrics import report_classification
from uer.finetune.task import Task
from uer.finetune.tasks.classifier import count_labels, read_classification, stack


def read_task_dirs(dirs, encoder):
    """Per folder: (name, train examples, dev examples, labels_num). ``example.extra`` holds the
    task index."""
    tasks = []
    for index, folder in enumerate(dirs):
        if not os.path.isdir(folder):
            raise UerError(f"{folder}: --dataset_path_list entry is not a folder")
        train_path = os.path.join(folder, "train.tsv")
        lines = {}
        train = read_classification(train_path, encoder, label_lines=lines)
        labels_num = count_labels(train, train_path, lines)
        dev = read_classification(os.path.join(folder, "dev.tsv"), encoder,
                                  labels_num=labels_num)
        for ex in train + dev:
            ex.extra = index
        name = os.path.basename(os.path.normpath(folder)) or folder
        tasks.append((name, train, dev, labels_num))
    return tasks


class MultiTaskClassificationTask(Task):
    metric_name = "mean accuracy"

    def __init__(self, names, labels_nums):
        self.names = list(names)
        self.labels_nums = list(labels_nums)

    def train_batches(self, examples, batch_size, rng):
        by_task = [[] for _ in self.names]
        for ex in examples:
            by_task[ex.extra].append(ex)
        batches = [batch for group in by_task for batch in shuffled_batches(group, batch_size, rng)]
        order = rng.permutation(len(batches))
        return [batches[i] for i in order]

    def predict_batches(self, examples, batch_size):
        """Length-sorted batches within each task: one head per batch."""
        batches = []
        for index in range(len(self.names)):
            rows = [i for i, ex in enumerate(examples) if ex.extra == index]
            batches += [[rows[i] for i in batch]
                        for batch in length_sorted_batches([examples[i] for i in rows], batch_size)]
        return batches

    def collate(self, examples):
        src, seg = pad_src_seg(examples)
        batch = {"src": src, "seg": seg, "task": examples[0].extra}
        if all(ex.label is not None for ex in examples):
            batch["label"] = torch.tensor([ex.label for ex in examples], dtype=torch.long)
        return batch

    def forward(self, model, batch):
        return model(batch["src"], batch["seg"], batch["task"])

    def loss(self, model, batch):
        return F.cross_entropy(self.forward(model, batch).float(), batch["label"])

    def score(self, examples, outputs, detailed=False):
        accuracies = []
        for index, name in enumerate(self.names):
            rows = [i for i, ex in enumerate(examples) if ex.extra == index]
            logits = stack([outputs[i] for i in rows])
            pred = logits.argmax(dim=-1) if rows else torch.zeros(0, dtype=torch.long)
            gold = torch.tensor([examples[i].label for i in rows], dtype=torch.long)
            accuracies.append(report_classification(pred, gold, self.labels_nums[index], detailed,
                                                    prefix=f"Dataset {name}: "))
        mean = sum(accuracies) / len(accuracies)
        print(f"Mean Acc.: {mean:.4f}")
        return mean
