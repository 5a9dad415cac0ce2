"""The money and receipts layer: journaled operations, receipts, printing, recovery."""
