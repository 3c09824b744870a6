#!/bin/bash
# One session on a GPU/TPU machine, inside a fixed budget of device time:
#   1. python benchmarks/device_check.py  (golden bits, kernel and train-step speed)   -> $OUT/device_check.log
#      python benchmarks/bench_kernel.py --callback-cost (what an update pays for)     -> $OUT/parts.log
#   2. bench_exhaustive.py slices of 2^29 steps, PEXH at a time, Keras example first   -> $OUT/exhaustive.log
#   3. the test suite with PNT xdist workers, side by side with 2                      -> $OUT/pytest.log
# Steps 2 and 3 stop at BUDGET seconds after step 1 (a slice not started is listed as such).
# Run from the repository root:  OUT=/tmp/out bash benchmarks/device_session.sh
# On a machine without this project's test dependencies, put wheels (keras, namex, optree
# for Python 3.12 on the H200 image) in .whl/ and they are installed to /tmp/site first.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to a folder for the logs}
T0=$(date +%s)
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1 KERAS_BACKEND=jax
{ nvidia-smi --query-gpu=name,driver_version --format=csv; nproc
  python3 -c "import jax, jaxlib, numpy, ml_dtypes, sys; print(sys.version); print('jax', jax.__version__, 'jaxlib', jaxlib.__version__, 'numpy', numpy.__version__, 'ml_dtypes', ml_dtypes.__version__, jax.devices())"
} > "$OUT/env.txt" 2>&1
timeout 200 python3 benchmarks/device_check.py > "$OUT/device_check.log" 2>&1
echo "device_check rc=$? after $(( $(date +%s) - T0 )) s" >> "$OUT/device_check.log"
# which part of the schedule a jitted adam update pays for (cond, host callback): ~11 s on CPU
timeout 150 python3 benchmarks/bench_kernel.py --callback-cost --rounds 7 > "$OUT/parts.log" 2>&1
echo "parts rc=$? after $(( $(date +%s) - T0 )) s" >> "$OUT/parts.log"
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # many processes share the device
DEADLINE=$(( $(date +%s) + ${BUDGET:-300} ))
export DEADLINE
EXH=$(mktemp -d)
export EXH
slices() {  # config, mode: costliest first after the Keras example (docs/numerics.md's times)
  for cm in "keras continuous" "keras staircase" "d1 continuous" "dyadic_ties staircase" \
            "d1 staircase" "dyadic staircase" "grow continuous" "near1 continuous" \
            "near1b continuous" "d3 staircase" "d7 continuous" "d7 staircase" \
            "dyadic_ties continuous" "d3 continuous" "dyadic continuous" "grow staircase" \
            "near1b staircase" "near1 staircase"; do
    set -- $cm
    for k in 0 1 2 3; do echo "$1 $2 $((k * ${SLICE:-536870912})) $(((k + 1) * ${SLICE:-536870912}))"; done
  done
}
slices | xargs -P "${PEXH:-8}" -L 1 sh -c '
  t=$((DEADLINE - $(date +%s))); f=$EXH/$1_$2_$3
  if [ $t -gt 10 ]; then
    s=$(date +%s)
    timeout $t python3 benchmarks/bench_exhaustive.py --config $1 --mode $2 --start $3 --stop $4 > $f 2>&1
    echo "rc=$? wall=$(( $(date +%s) - s ))" >> $f
  else echo "not started (deadline)" > $f; fi' _ &
X=$!
timeout $((DEADLINE - $(date +%s))) python3 -m pytest -p no:benchmark -n "${PNT:-7}" --dist loadfile \
  -v -rfE tests jax_expdecay > "$OUT/pytest.log" 2>&1
echo "pytest rc=$?" >> "$OUT/pytest.log"
wait $X
for f in "$EXH"/*; do echo "## $(basename "$f")"; cat "$f"; done > "$OUT/exhaustive.log"
echo "total $(( $(date +%s) - T0 )) s" >> "$OUT/env.txt"
