"""What happens when an event arrives: each reaction reads like the sentence it implements (`reactions.py`);
`base.py` runs each one once per event, in one transaction, dead-lettering what cannot be read; `consuming.py`
feeds them from JetStream (the durable consumers, the pull loop, the worker's broker)."""
