"""Fine-tuning tasks: each reads its files into examples, builds its model, and defines its
loss, forward pass and evaluation for ``uer.finetune.engine.Engine``."""
