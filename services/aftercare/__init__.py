"""Aftercare (quản lý sau cai nghiện): Law 73/2021 Art. 40, Decree 116/2021 Ch. VI."""
