"""Building blocks shared by the encoders: UER-py's LayerNorm, activations, multi-head attention
(through torch's scaled_dot_product_attention), the position-wise feed-forward block and the
post-LN transformer layer. Parameter names follow UER-py so its checkpoints load unchanged."""
