#!/usr/bin/env bash
# Telemetry against a real Prometheus (Debian's /usr/bin/prometheus) on
# loopback: it scrapes the HTTP exporter of a test agent and receives that
# agent's remote-write; the exact values must arrive both ways. Then
# Prometheus is stopped for a while and restarted on the same storage: the
# samples buffered meanwhile arrive, none missing; a second agent with a
# 5-sample buffer drops the oldest and counts exactly what it dropped.
# `promtool check metrics` must be clean on the exporter's output. Last,
# Prometheus serves TLS with a self-signed certificate: remote-write verifies
# it (succeeds with the certificate as CA file, fails without).
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"

PROMETHEUS=${PROMETHEUS:-/usr/bin/prometheus}
PROMTOOL=${PROMTOOL:-/usr/bin/promtool}
if [[ ! -x $PROMETHEUS || ! -x $PROMTOOL ]] || ! command -v openssl >/dev/null; then
  echo "SKIP: needs $PROMETHEUS, $PROMTOOL (apt-get install prometheus) and openssl"
  exit 77
fi
AGENT=$BUILD/tests/integration/telemetry/telemetry_it_agent

PPORT=$("$AGENT" --free-port)
PROM=http://127.0.0.1:$PPORT
RW_URL=$PROM/api/v1/write

# start_agent NAME ARGS...: runs the agent in the background; its exporter's
# port ends up in $WORK/NAME.port.
start_agent() {
  local name=$1
  shift
  "$AGENT" --name "$name" --port-file "$WORK/$name.port" "$@" 2>"$WORK/$name.log" &
  on_exit "kill -9 $! 2>/dev/null"
  disown $!  # no "Killed" notice at exit
  wait_for 10 test -s "$WORK/$name.port" || { echo "agent $name did not start"; cat "$WORK/$name.log"; exit 1; }
}

PROM_PID=
CURL=(curl -sf)
# start_prometheus [FLAGS...]
start_prometheus() {
  "$PROMETHEUS" --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
    --web.listen-address="127.0.0.1:$PPORT" --web.enable-remote-write-receiver \
    --log.level=warn "$@" 2>>"$WORK/prometheus.log" &
  PROM_PID=$!
  on_exit "kill -9 $PROM_PID 2>/dev/null"
  wait_for 30 "${CURL[@]}" "$PROM/-/ready" || { echo "prometheus did not start"; tail "$WORK/prometheus.log"; exit 1; }
}
stop_prometheus() {
  kill -TERM "$PROM_PID"
  local i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$PROM_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$PROM_PID" 2>/dev/null
  wait "$PROM_PID" 2>/dev/null
}

# query PROMQL JQ: evaluates an instant query, filters the answer with jq.
query() { "${CURL[@]}" --data-urlencode "query=$1" "$PROM/api/v1/query" | jq -r "$2"; }
value_is() { [[ $(query "$1" '.data.result[0].value[1] // empty') == "$2" ]]; }
present() { [[ $(query "$1" '.data.result | length') -ge 1 ]]; }
# metric PORT SAMPLE-PREFIX: a value from an agent's own /metrics.
metric() { curl -sf "http://127.0.0.1:$1/metrics" | awk -v p="$2" 'index($0, p) == 1 { print $2; exit }'; }
# samples SERIES: every raw sample value of SERIES over the last 10 minutes, one per line.
samples() { query "$1[10m]" '.data.result[0].values[]?[1]'; }

start_agent big --remote-write "$RW_URL" --interval-ms 250
BIG_PORT=$(cat "$WORK/big.port")
cat >"$WORK/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: railyard
    static_configs:
      - targets: ['127.0.0.1:$BIG_PORT']
YAML
start_prometheus
start_agent tiny --remote-write "$RW_URL" --interval-ms 250 --buffer 5 --groups seq
TINY_PORT=$(cat "$WORK/tiny.port")

curl -sf "http://127.0.0.1:$BIG_PORT/metrics" >"$WORK/exposition.txt"
check "promtool check metrics is clean on the exporter's output" \
  bash -c "out=\$('$PROMTOOL' check metrics <'$WORK/exposition.txt' 2>&1); rc=\$?; echo \"\$out\"; [[ \$rc -eq 0 && -z \$out ]]"

scraped='job="railyard"'
check "scraped: counter with labels" wait_for 20 value_is "railyard_it_events_total{$scraped,host=\"h1\",rail=\"r0\"}" 42
check "scraped: escaped label value" wait_for 5 value_is "railyard_it_events_total{$scraped,rail=\"r\\\"1\"}" 7
check "scraped: gauge" wait_for 5 value_is "railyard_it_temperature_celsius{$scraped,chassis=\"c1\",sensor=\"inlet\"}" 36.6
check "scraped: histogram buckets" wait_for 5 value_is "railyard_it_latency_seconds_bucket{$scraped,class=\"kv\",le=\"0.01\"}" 2
check "scraped: histogram +Inf and count" wait_for 5 value_is "railyard_it_latency_seconds_count{$scraped,class=\"kv\"}" 4
check "scraped: histogram sum" wait_for 5 present "abs(railyard_it_latency_seconds_sum{$scraped,class=\"kv\"} - 0.5555) < 1e-9"

pushed='agent="big"'
check "remote-write: counter with labels" wait_for 20 value_is "railyard_it_events_total{$pushed,host=\"h1\",rail=\"r0\"}" 42
check "remote-write: escaped label value" wait_for 5 value_is "railyard_it_events_total{$pushed,rail=\"r\\\"1\"}" 7
check "remote-write: gauge" wait_for 5 value_is "railyard_it_temperature_celsius{$pushed,sensor=\"inlet\"}" 36.6
check "remote-write: histogram bucket" wait_for 5 value_is "railyard_it_latency_seconds_bucket{$pushed,le=\"0.001\"}" 1
check "remote-write: histogram +Inf" wait_for 5 value_is "railyard_it_latency_seconds_bucket{$pushed,le=\"+Inf\"}" 4
check "remote-write: histogram sum" wait_for 5 present "abs(railyard_it_latency_seconds_sum{$pushed} - 0.5555) < 1e-9"

# The collector goes away; the agents keep sampling.
check "tiny agent delivers before the outage" wait_for 10 present 'railyard_it_sequence{agent="tiny"}'
stop_prometheus
# positive PORT SAMPLE-PREFIX: that metric of the agent is over 0 (prints it).
positive() { local v; v=$(metric "$1" "$2"); echo "$2 ${v:-absent}"; [[ ${v:-0} -gt 0 ]]; }
check "while away: the big agent buffers" wait_for 20 positive "$BIG_PORT" 'railyard_remote_write_buffered_samples{'
check "while away: the 5-sample buffer overflows" wait_for 20 positive "$TINY_PORT" 'railyard_remote_write_dropped_samples_total{'
echo "       buffered by the big agent: $(metric "$BIG_PORT" 'railyard_remote_write_buffered_samples{'); dropped by the tiny one: $(metric "$TINY_PORT" 'railyard_remote_write_dropped_samples_total{')"

start_prometheus
drained() { [[ $(metric "$1" 'railyard_remote_write_buffered_samples{') == 0 ]]; }
check "after restart: the big agent's buffer drains" wait_for 20 drained "$BIG_PORT"
check "after restart: the tiny agent's buffer drains" wait_for 20 drained "$TINY_PORT"

# Every tick of the big agent is there, across the outage: 1..max, no gap
# (asked again until it is, or 10 s pass: what was just written may take a
# moment to be queryable).
all_ticks() {
  samples 'railyard_it_sequence{agent="big"}' >"$WORK/big.seq"
  echo "1..$(tail -1 "$WORK/big.seq"), $(wc -l <"$WORK/big.seq") samples"
  awk 'NR != $1 { exit 1 } END { exit NR < 20 }' "$WORK/big.seq"
}
check "after restart: every buffered sample arrived (1..max, at least 20, no gap)" wait_for 10 all_ticks
echo "       big agent's samples in Prometheus: 1..$(tail -1 "$WORK/big.seq"), $(wc -l <"$WORK/big.seq") in all"

# The tiny agent lost exactly what it counted, in one run: the oldest of the outage.
tiny_dropped=$(metric "$TINY_PORT" 'railyard_remote_write_dropped_samples_total{')
one_gap() {
  samples 'railyard_it_sequence{agent="tiny"}' >"$WORK/tiny.seq"
  awk -v d="$tiny_dropped" 'NR == 1 && $1 != 1 { exit 1 }
    NR > 1 && $1 - prev > 1 { gaps++; missing += $1 - prev - 1 }
    { prev = $1 }
    END { exit !(gaps == 1 && missing == d && d > 0) }' "$WORK/tiny.seq"
}
check "tiny buffer: $tiny_dropped samples missing in Prometheus, all in one run after the oldest delivered" \
  wait_for 10 one_gap
check "tiny buffer: the newest samples of the outage arrived" \
  awk 'NR > 1 && $1 - prev > 1 { after = 1 } after { n++ } { prev = $1 } END { exit !(n >= 5) }' "$WORK/tiny.seq"

# TLS: the same Prometheus restarted behind a self-signed certificate.
# Remote-write verifies the peer: with the certificate as its CA file the
# samples arrive; without it every attempt fails and nothing arrives.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 2>/dev/null
printf 'tls_server_config:\n  cert_file: %s\n  key_file: %s\n' "$WORK/cert.pem" "$WORK/key.pem" >"$WORK/web.yml"
stop_prometheus
PROM=https://127.0.0.1:$PPORT
CURL=(curl -sf --cacert "$WORK/cert.pem")
start_prometheus --web.config.file="$WORK/web.yml"
start_agent tls --remote-write "$PROM/api/v1/write" --ca-file "$WORK/cert.pem" --groups seq
start_agent untrusted --remote-write "$PROM/api/v1/write" --groups seq
check "TLS: remote-write with the CA file arrives over https" wait_for 15 present 'railyard_it_sequence{agent="tls"}'
failing() { [[ $(metric "$1" 'railyard_remote_write_failed_requests_total{') -ge 2 ]]; }
check "TLS: an unverifiable certificate fails (and is retried)" wait_for 10 failing "$(cat "$WORK/untrusted.port")"
check_not "TLS: no sample of the unverified agent in Prometheus" present 'railyard_it_sequence{agent="untrusted"}'

stop_prometheus
finish
