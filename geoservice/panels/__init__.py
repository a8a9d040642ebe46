"""The panels' own products: the weekly missing panel (``missing``), contextual-harm risk-matrix tracking
(``risk``) and disproportionality (``disproportionality``). Functions of the data they are given, like the packs."""
