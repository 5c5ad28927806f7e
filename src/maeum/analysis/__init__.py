"""Reading finished runs back: the statistics across seeds and variants (`stats`) and the leaderboard
built from many training runs (`leaderboard`). Nothing here starts a run or a W&B session: the entry point
`maeum.leaderboard` does that on top."""
