"""What both the test-time reports (`maeum.training`) and the leaderboard (`maeum.analysis`) measure and draw
with: the Korean text metrics of replies (`text`) and figures with Hangul (`plots`)."""
