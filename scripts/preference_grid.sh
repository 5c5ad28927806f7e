#!/usr/bin/env bash
# SFT -> preference tuning on ChatbotData with tiny_gpt2, over seeds (docs/results.md, "Preference tuning"):
#   1. an emotion judge: the ChatbotData sentiment classifier (experiment=emotion/chatbotdata_tiny), once;
#   2. per seed, SFT with the ChatbotData grid's best recipe (data.label_mask=input, 10 epochs), exported;
#   3. per seed, DPO from that export against the corpus's own replies:
#        contrastive: the rejected reply is another sentiment's reference reply;
#        self_play:   the rejected reply is the SFT chatbot's own reply (SPIN), for ROUNDS rounds, each round
#                     starting from and playing against the previous round's export;
#   4. maeum-leaderboard over all of it: one row per arm with its seeds, paired on the test dialogues.
# Every DPO run names its start through ${seed} (backbone.name_or_path=.../seed_${seed}/export), so that a
# row's runs differ only in their seed and the leaderboard groups them.
#
#   scripts/preference_grid.sh                        # seeds 1 2 3, one self-play round
#   SEEDS="1" ROUNDS=2 scripts/preference_grid.sh     # one seed, two self-play rounds
# The data is read from ../shared/data beside the repository (DATA_DIR=...), runs go to logs/preference (OUT=).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_DIR="${DATA_DIR:-$(cd .. && pwd)/shared/data}"
OUT="$(mkdir -p "${OUT:-logs/preference}" && cd "${OUT:-logs/preference}" && pwd)"
SEEDS="${SEEDS:-1 2 3}"
ROUNDS="${ROUNDS:-1}"
train() { python -m maeum.train "paths.data_dir=$DATA_DIR" logger=csv "$@"; }
export_best() {  # the run's best checkpoint as a transformers directory: <run>/export
  maeum-export "ckpt_path=$(ls "$1"/checkpoints/epoch_*.ckpt | head -n 1)" "output_dir=$1/export" >/dev/null
}

judge="$OUT/judge"
if [ ! -d "$judge/checkpoints" ]; then
  train experiment=emotion/chatbotdata_tiny "data.path=$DATA_DIR/chatbotdata/ChatbotData.csv" "hydra.run.dir=$judge"
fi
judge_ckpt="$(ls "$judge"/checkpoints/epoch_*.ckpt | head -n 1)"

for seed in $SEEDS; do
  sft="$OUT/sft/seed_$seed"
  if [ ! -d "$sft/export" ]; then
    train experiment=leaderboard/chatbotdata_tiny data.label_mask=input trainer.max_epochs=10 "seed=$seed" \
      "emotion_classifier=$judge_ckpt" "hydra.run.dir=$sft"
    export_best "$sft"
  fi
  run="$OUT/dpo_contrastive/seed_$seed"
  [ -d "$run/checkpoints" ] || train experiment=preference/chatbotdata_tiny "seed=$seed" \
    'backbone.name_or_path='"$OUT"'/sft/seed_${seed}/export' "emotion_classifier=$judge_ckpt" "hydra.run.dir=$run"
  start="sft"
  for round in $(seq 1 "$ROUNDS"); do
    run="$OUT/dpo_self_play_r$round/seed_$seed"
    if [ ! -d "$run/export" ]; then
      train experiment=preference/chatbotdata_tiny "seed=$seed" data/rejected=self_play \
        'backbone.name_or_path='"$OUT/$start"'/seed_${seed}/export' \
        'data.rejected.chatbot='"$OUT/$start"'/seed_${seed}/export' \
        "emotion_classifier=$judge_ckpt" "hydra.run.dir=$run"
      export_best "$run"
    fi
    start="dpo_self_play_r$round"
  done
done
maeum-leaderboard "$OUT/sft" "$OUT/dpo_contrastive" "$OUT"/dpo_self_play_r* --output "$OUT/leaderboard"
