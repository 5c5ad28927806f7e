"""What a run is (`kinds`: classify, chat, pretrain) and what it writes (`files`): the lowest floor that both
training and the leaderboard read, importing neither torch nor Lightning."""
