"""Fine-tuning engine shared by every ``run_*.py`` and ``inference/*.py`` script.

A task contributes what is specific to it; the engine owns the rest. The written contract is
``task.py`` (``Task``); read it first.

- task (``uer/finetune/tasks/<name>.py``): reads its files into encoded examples, builds its
  model (embedding + encoder + head, see ``heads.py``), turns a list of examples into tensors
  (``collate``), computes the training loss, and evaluates a model on a list of examples;
- engine (``engine.py``): batching (pad to the longest sequence in the batch), optimizer and
  warm-up/linear-decay schedule (the update itself is ``uer/step.py``, shared with
  pre-training), epochs, report lines, tqdm progress, dev evaluation after each epoch, keeping
  the best model (atomic save), the final test evaluation, seed, device, DDP processes and
  mixed precision (``runtime.py``), and batched prediction under ``torch.inference_mode``.
"""
