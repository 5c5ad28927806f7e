#!/usr/bin/env bash
# Build korean_gpt2_small and korean_bert_small from the open Korean text of ../shared/data/korean-text
# (18 sources; xpersona_ko.txt is left out, its dialogues being fine-tuning data): for each, a tokenizer
# (maeum-tokenizer train: KoGPT2's Metaspace BPE with its special ids, or KoBERT's sentencepiece unigram),
# then one pass of pretraining over the text (experiment=pretrain/*), then the same held-out text
# (test/bpc) under the tiny backbone's own random weights: the from-scratch start of every tiny grid.
# The backbones land in models/korean_{gpt2,bert}_small (backbone=korean_gpt2_small fine-tunes one), the
# runs in logs/pretrain, and a summary (tokens, wall time, held-out bpc) in logs/pretrain/summary.tsv.
# Each model is tiny_gpt2's / tiny_bert's exact architecture, sized for about 25 minutes on one CPU core
# (the two run side by side on a 2-core machine: `scripts/pretrain_korean.sh gpt2 & scripts/pretrain_korean.sh
# bert`, each with OMP_NUM_THREADS=1). A tokenizer already in models/tokenizers is kept (FORCE=1 retrains).
#
#   scripts/pretrain_korean.sh              # both
#   scripts/pretrain_korean.sh gpt2         # one: gpt2 | bert
#
# On a GPU the same commands take bigger settings, e.g. KoGPT2's shape (12 x 768, 51,200 pieces) for
# several epochs in bf16:
#   maeum-tokenizer train --style kogpt2 --vocab-size 51200 --out models/tokenizers/kogpt2_base_ko \
#       ../shared/data/korean-text/*.txt
#   python -m maeum.train experiment=pretrain/korean_gpt2_small trainer=gpu trainer.max_epochs=10 \
#       data.tokenizer=models/tokenizers/kogpt2_base_ko data.block_size=1024 data.batch_size=32 \
#       'model.backbone_config={n_layer:12,n_embd:768,n_head:12}' model.optimizer.lr=6e-4 \
#       callbacks.save_pretrained.dirpath=models/kogpt2_base_ko
#   (and trainer=ddp / trainer=fsdp across GPUs; the BERT side likewise with experiment=pretrain/
#   korean_bert_small, --style kobert --vocab-size 8002 and '{num_hidden_layers:12,hidden_size:768,
#   num_attention_heads:12,intermediate_size:3072}')
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_DIR="${DATA_DIR:-$(cd .. && pwd)/shared/data}"
OUT="${OUT:-logs/pretrain}"
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(gpt2 bert)
[ -d "$DATA_DIR/korean-text" ] || { echo "no $DATA_DIR/korean-text: set DATA_DIR" >&2; exit 1; }
texts=()
for f in "$DATA_DIR"/korean-text/*.txt; do
  [[ "$(basename "$f")" == xpersona_ko.txt ]] || texts+=("$f")
done
mkdir -p "$OUT"
summary="$OUT/summary.tsv"
[ -f "$summary" ] || printf 'model\ttokens_seen\twall_s\ttest_bpc\tfrom_scratch_test_bpc\n' > "$summary"

metric() {  # the last value of metric $2 in the CSV log of run $1
  python - "$1" "$2" <<'PY'
import csv, glob, sys
files = sorted(glob.glob(f"{sys.argv[1]}/csv/version_*/metrics.csv"))
rows = [r for f in files for r in csv.DictReader(open(f, encoding="utf-8"))]
print(next(r[sys.argv[2]] for r in reversed(rows) if r.get(sys.argv[2])))
PY
}

for m in "${models[@]}"; do
  case "$m" in
    gpt2) style=kogpt2; vocab=6000 ;;
    bert) style=kobert; vocab=8002 ;;
    *) echo "unknown model $m (gpt2 | bert)" >&2; exit 2 ;;
  esac
  name="korean_${m}_small"
  if [[ -f "models/tokenizers/$name/maeum_tokenizer.json" && -z "${FORCE:-}" ]]; then
    echo "models/tokenizers/$name exists: kept (FORCE=1 trains it again)"
  else
    rm -rf "models/tokenizers/$name"
    maeum-tokenizer train --style "$style" --vocab-size "$vocab" --out "models/tokenizers/$name" "${texts[@]}"
  fi
  start=$SECONDS
  python -m maeum.train "experiment=pretrain/$name" "paths.data_dir=$DATA_DIR" logger=csv \
    "hydra.run.dir=$OUT/$name"
  wall=$((SECONDS - start))
  tokens=$(metric "$OUT/$name" train/tokens_seen)
  # the tiny backbone's own random weights on the same held-out documents (its tokenizer, the same split)
  python -m maeum.train "experiment=pretrain/$name" "paths.data_dir=$DATA_DIR" logger=csv train=false \
    "data.tokenizer=tiny_$m" model.from_scratch=false "hydra.run.dir=$OUT/tiny_${m}_from_scratch"
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$tokens" "$wall" "$(metric "$OUT/$name" test/bpc)" \
    "$(metric "$OUT/tiny_${m}_from_scratch" test/bpc)" >> "$summary"
done
column -t -s $'\t' "$summary"
