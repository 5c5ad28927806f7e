#!/usr/bin/env bash
# Reproduce the leaderboards of docs/results.md on CPU: tiny_gpt2 on the real HG-TODS (multi-turn: the four label masks)
# and ChatbotData (single turn: input, last_sys and shift; all_sys is last_sys there), each mask at 5 epochs
# plus `input` at 10 epochs, every variant with seeds 1, 2 and 3 (the grid configs sweep them), then
# maeum-leaderboard: one row per variant with the seeds' mean, std and 95% interval, and a paired bootstrap
# against the best row on the same test dialogues. Every test also answers each test dialogue
# (test_generations.csv: chrF, BLEU, distinct-n, empty/copy/repeat rates); on ChatbotData the replies'
# emotion is judged by a ChatbotData sentiment classifier (tiny_bert, experiment=emotion/chatbotdata_tiny)
# that the script trains first (emotion_classifier=...).
# Run from anywhere after `make install`; the data is read from ../shared/data beside the repository
# (DATA_DIR=... to change it) and everything goes to logs/leaderboard (OUT=...).
#
#   scripts/reproduce_leaderboard.sh              # both grids
#   scripts/reproduce_leaderboard.sh hg_tods_tiny # one grid
#   scripts/reproduce_leaderboard.sh chatbotdata_qwen3_tiny_lora  # LoRA on tiny_qwen3 in Qwen3's chat template
#       (needs MAEUM_CHAT_TOKENIZERS: the folder that holds the real qwen3-0.6b tokenizer)
#
# The grid for real use (KoGPT2 on the multi-turn AI Hub 감성대화말뭉치, one GPU) is run the same way:
#   python -m maeum.train -m experiment=leaderboard/aihub_emotion_kogpt2 data.path=Training.xlsx \
#       data.val_path=Validation.xlsx hydra.sweep.dir=logs/leaderboard/aihub_emotion_kogpt2-masks
#   python -m maeum.train -m experiment=leaderboard/aihub_emotion_kogpt2 data.path=Training.xlsx \
#       data.val_path=Validation.xlsx data.label_mask=input trainer.max_epochs=10 \
#       hydra.sweep.dir=logs/leaderboard/aihub_emotion_kogpt2-input10
#   maeum-leaderboard logs/leaderboard/aihub_emotion_kogpt2-{masks,input10} \
#       --output logs/leaderboard/aihub_emotion_kogpt2 --wandb
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_DIR="${DATA_DIR:-$(cd .. && pwd)/shared/data}"
OUT="${OUT:-logs/leaderboard}"
grids=("$@")
input_epochs() {  # `input` at twice the grid's epochs (5 -> 10 for the tiny_gpt2 grids, 3 -> 6 for LoRA)
  python -m maeum.train "experiment=leaderboard/$1" "paths.data_dir=$DATA_DIR" --cfg job 2>/dev/null |
    python -c "import sys, yaml; print(2 * yaml.safe_load(sys.stdin)['trainer']['max_epochs'])"
}
[ ${#grids[@]} -gt 0 ] || grids=(hg_tods_tiny chatbotdata_tiny)

for grid in "${grids[@]}"; do
  start=$SECONDS
  judge=()
  if [[ "$grid" == chatbotdata_* ]]; then  # the judge of the replies' emotion: sentiment of ChatbotData's Q
    classifier="$OUT/chatbotdata-classifier"
    if ! compgen -G "$classifier/checkpoints/epoch_*.ckpt" >/dev/null; then
      python -m maeum.train experiment=emotion/chatbotdata_tiny \
        "data.path=$DATA_DIR/chatbotdata/ChatbotData.csv" logger=csv "hydra.run.dir=$classifier"
    fi
    judge=("emotion_classifier=$(compgen -G "$classifier/checkpoints/epoch_*.ckpt" | head -n 1)")
  fi
  python -m maeum.train -m "experiment=leaderboard/$grid" "paths.data_dir=$DATA_DIR" "${judge[@]}" \
    "hydra.sweep.dir=$OUT/$grid-masks"
  python -m maeum.train -m "experiment=leaderboard/$grid" "paths.data_dir=$DATA_DIR" "${judge[@]}" \
    data.label_mask=input "trainer.max_epochs=$(input_epochs "$grid")" "hydra.sweep.dir=$OUT/$grid-input10"
  python -m maeum.leaderboard "$OUT/$grid-masks" "$OUT/$grid-input10" --output "$OUT/$grid"
  python -m maeum.leaderboard "$OUT/$grid-masks" --output "$OUT/$grid-masks"  # the masks alone, paired
  echo "$grid: $((SECONDS - start)) s" | tee -a "$OUT/$grid/wall_time.txt"
done
