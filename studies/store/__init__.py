"""Storage and bookkeeping: the Optuna storage, what a study records, its trials and
their workers, and the budget, kept by the database."""
