"""Budget arithmetic and selections: pure functions over ints and NumPy arrays, no torch.

``units`` parses budget strings (once, at the edge); ``selection`` holds the frozen selection
types (which item values ship) with their nested truncation rule; ``fit`` finds the largest
truncation whose exact package size fits a budget.
"""
