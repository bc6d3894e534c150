#!/usr/bin/env bash
# The narrated demo `make run` ends with: walks one Aourly tenant through what the service does,
# against a running service and Visma sandbox, calling only their HTTP APIs (what Aourly and the
# owner's browser would call, plus the sandbox's /_sandbox admin API to look inside "Visma").
#
#   connect → status → first pull (accounts, fiscal years) → account mapping (proposed, saved)
#   → customer.created → invoice.created (and the same event again) → voucher.created
#   → sync items → what landed in Visma → where to look
#
# Run it by hand against `make run` / `make serve` + `make sandbox` with the same variables
# (scripts/local-env.sh). Exits non-zero at the first step that fails, saying which and why, so
# `RUN_DEMO_ONLY=1 make run` doubles as a smoke test. Needs bash, curl and python3 (stdlib only).
#
#   DEMO_TENANT=demo2 DEMO_COMPANY=2 scripts/demo.sh   # another tenant and Visma company
#                                        (defaults: demo, 1 = Exempel AB; 2 = Andra Bolaget AB)
#   DEMO_TIMEOUT=60 scripts/demo.sh      # seconds to wait for each asynchronous step
set -euo pipefail

SERVICE="http://${LOCAL_HTTP_ADDR:-127.0.0.1:3000}"
SANDBOX="http://${VISMA_SANDBOX_ADDR:-127.0.0.1:4010}"
JWT_SECRET=${AOURLY_JWT_SECRET:-local-jwt-secret}
WEBHOOK_SECRET=${AOURLY_WEBHOOK_SECRET:-local-webhook-secret}
TENANT=${DEMO_TENANT:-demo}
COMPANY_INDEX=${DEMO_COMPANY:-1}   # which sandbox company to connect: 1 Exempel AB, 2 Andra Bolaget AB
TIMEOUT=${DEMO_TIMEOUT:-60}
RETURN_URL=${DEMO_RETURN_URL:-http://localhost:5173/settings/integrations}
BASE="$SERVICE/tenants/$TENANT/visma"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
BODY="$work/body.json"   # the last answer's body
step_no=0

# ------------------------------------------------------------------ output helpers
bold() { printf '\033[1m%s\033[0m' "$*"; }
step() { step_no=$((step_no + 1)); printf '\n\033[1;36m[%d] %s\033[0m\n' "$step_no" "$1"; shift; for l in "$@"; do printf '    %s\n' "$l"; done; }
info() { printf '    %s\n' "$*"; }
fail() {
  printf '\n\033[1;31mdemo failed at step %d: %s\033[0m\n' "$step_no" "$1" >&2
  if [ -s "$BODY" ]; then printf '    last answer: %s\n' "$(head -c 2000 "$BODY")" >&2; fi
  printf '    look at: .local/service.log (the service), %s/_sandbox/log (Visma calls)\n' "$SANDBOX" >&2
  exit 1
}

# Reads the last answer ($BODY) and prints what the Python expression gives for it; `d` is the
# parsed JSON. Dicts and lists are pretty-printed, indented under the step.
show() {
  python3 - "$BODY" "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
v = eval(sys.argv[2], {"d": d, "json": json})
text = v if isinstance(v, str) else json.dumps(v, indent=2, ensure_ascii=False)
print("\n".join("    " + line for line in str(text).splitlines()))
PY
}
# Like show, but only the value (for shell variables).
get() {
  python3 - "$BODY" "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
v = eval(sys.argv[2], {"d": d, "json": json})
print(v if isinstance(v, str) else json.dumps(v))
PY
}

# each ITERABLE TEMPLATE: one line per element of the Python expression ITERABLE (over `d`),
# formatted with str.format_map (missing keys print as None), e.g. each 'd["items"]' '{id} {status}'.
each() {
  python3 - "$BODY" "$1" "$2" <<'PY'
import json, sys
class Row(dict):
    def __missing__(self, key):
        return None
d = json.load(open(sys.argv[1], encoding="utf-8"))
for x in eval(sys.argv[2], {"d": d}):
    print("    " + sys.argv[3].format_map(Row(x)))
PY
}
# fmt TEMPLATE: one line, formatted with the answer's top-level fields.
fmt() { each '[d]' "$1"; }

# ------------------------------------------------------------------ auth helpers
# An Aourly bearer JWT (integration guide "Authentication"): HS256 over the local secret, valid for an hour.
jwt() { # role
  python3 - "$JWT_SECRET" "$TENANT" "$1" <<'PY'
import base64, hashlib, hmac, json, sys, time
secret, tenant, role = sys.argv[1:]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
claims = b64(json.dumps({"iss": "aourly", "aud": "aourly-visma", "exp": int(time.time()) + 3600,
                         "sub": "user_demo_owner", "tenant": tenant, "role": role}).encode())
sig = hmac.new(secret.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
print(f"{header}.{claims}.{b64(sig)}")
PY
}
OWNER=$(jwt owner)
SERVICE_TOKEN=$(jwt service)

# call METHOD URL EXPECTED_STATUS [JSON_BODY] [TOKEN]: the answer's body lands in $BODY.
call() {
  local method=$1 url=$2 want=$3 data=${4:-} token=${5:-$OWNER} code
  local args=(-sS -o "$BODY" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $token")
  if [ -n "$data" ]; then args+=(-H 'Content-Type: application/json' --data-binary "$data"); fi
  code=$(curl "${args[@]}" "$url") || fail "$method $url: no answer (is the service running?)"
  [ "$code" = "$want" ] || fail "$method $url answered $code, expected $want"
}

# webhook JSON_BODY: posts a signed Aourly webhook; Aourly-Signature is
# t=<unix>,v1=<hex HMAC-SHA256(webhook secret, "<t>.<raw body>")>.
webhook() {
  local body=$1 t sig code
  t=$(date +%s)
  sig=$(printf '%s.%s' "$t" "$body" | python3 -c '
import hashlib, hmac, sys
print(hmac.new(sys.argv[1].encode(), sys.stdin.buffer.read(), hashlib.sha256).hexdigest())' "$WEBHOOK_SECRET")
  code=$(curl -sS -o "$BODY" -w '%{http_code}' -X POST "$SERVICE/webhooks/aourly" \
    -H 'Content-Type: application/json' -H "Aourly-Signature: t=$t,v1=$sig" --data-binary "$body") \
    || fail "POST /webhooks/aourly: no answer"
  [ "$code" = 202 ] || fail "POST /webhooks/aourly answered $code, expected 202"
}

# wait_for DESCRIPTION URL PYTHON_CONDITION: polls a GET (service token) until the condition on
# `d` holds, or fails after $TIMEOUT seconds. The sync worker picks jobs up within a second or
# two; `make serve` long-polls the queue continuously.
wait_for() {
  local what=$1 url=$2 cond=$3 started=$SECONDS
  while :; do
    call GET "$url" 200 "" "$SERVICE_TOKEN"
    [ "$(get "bool($cond)")" = true ] && { info "(after $((SECONDS - started)) s)"; return 0; }
    [ $((SECONDS - started)) -ge "$TIMEOUT" ] && fail "waited ${TIMEOUT}s for $what"
    sleep 0.5
  done
}

# ------------------------------------------------------------------ the demo
printf '\n'; bold "Demo: tenant \"$TENANT\" connects its Aourly company to Visma (the local sandbox)"; printf '\n'
info "service $SERVICE, Visma sandbox $SANDBOX; the owner's JWT is signed with AOURLY_JWT_SECRET"

curl -fsS -o "$BODY" "$SERVICE/health" || fail "the service does not answer $SERVICE/health"
curl -fsS -o "$BODY" "$SANDBOX/_sandbox/companies" || fail "the Visma sandbox does not answer $SANDBOX"
COMPANY_ID=$(get "d[$COMPANY_INDEX - 1]['id']")
COMPANY_NAME=$(get "d[$COMPANY_INDEX - 1]['name']")

step "Connect: the owner clicks Connect on Aourly's Integrations page" \
  "Aourly calls POST /tenants/$TENANT/visma/connect (owner JWT) and sends the browser to authorize_url,"
info "Visma's consent page. To click through it yourself (pick a company, Grant Access), open:"
call POST "$BASE/connect" 200 "{\"return_url\": \"$RETURN_URL\"}"
info "  $(get 'd["authorize_url"]')"
info "  (valid 10 minutes, single use; afterwards the browser lands on $RETURN_URL?visma=connected)"
info "The scripted path: the sandbox's auto-approve (PUT /_sandbox/auto-approve) grants at once for"
info "$COMPANY_NAME, and curl follows the redirects a browser would."
curl -fsS -o /dev/null -X PUT "$SANDBOX/_sandbox/auto-approve" -H 'Content-Type: application/json' \
  --data "{\"on\": true, \"company_id\": \"$COMPANY_ID\"}" || fail "could not turn on the sandbox's auto-approve"
call POST "$BASE/connect" 200 "{\"return_url\": \"$RETURN_URL\"}"
authorize_url=$(get 'd["authorize_url"]')
hop=$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' "$authorize_url") || fail "the consent page did not answer"
callback_url=${hop#* }
info "Visma     → ${hop%% *} ${callback_url%%\?*}?code=…&state=…"
[ "${hop%% *}" = 302 ] || fail "Visma's authorize endpoint answered $hop, expected a 302 to the callback"
hop=$(curl -sS -o "$BODY" -w '%{http_code} %{redirect_url}' "$callback_url") || fail "the OAuth callback did not answer"
info "callback  → ${hop%% *} ${hop#* }"
# Back to the consent page for anyone clicking the URL above.
curl -fsS -o /dev/null -X PUT "$SANDBOX/_sandbox/auto-approve" -H 'Content-Type: application/json' --data '{"on": false}' || true
case "$hop" in
  *visma=connected*) ;;
  *) fail "the callback did not send the browser back with visma=connected" ;;
esac

step "Status: what the Visma card on the Integrations page shows (GET /tenants/$TENANT/visma)"
call GET "$BASE" 200
show '{k: d[k] for k in ("status", "visma_company", "connected_at", "last_sync_at", "mapping_complete", "counts", "warnings")}'
if [ "$(get '"mapping_incomplete" in d["warnings"]')" = true ]; then
  info "(no mapping yet, hence mapping_incomplete: the first pull proposes one)"
fi
[ "$(get 'd["status"]')" = connected ] || fail "status is not connected"

step "First pull: the callback queued it; the sync worker reads fiscal years, the chart of accounts," \
  "article account codings, VAT codes and vouchers from Visma (waiting for last_sync_at)"
wait_for "the first pull" "$BASE" 'd.get("last_sync_at")'
show '"last_sync_at " + d["last_sync_at"] + ", last_sync_result " + str(d["last_sync_result"])'
call GET "$BASE/fiscal-years" 200
each 'd["fiscal_years"]' 'fiscal year {start_date} – {end_date}  locked={locked}  id={id}'
call GET "$BASE/accounts" 200
show '"%d accounts in the current fiscal year (%s), e.g.:" % (len(d["accounts"]), d["fiscal_year_id"])'
each '[a for a in d["accounts"] if a["number"] in ("1510", "1930", "2611", "3001", "3740")]' '  {number}  {name}  active={active}'

step "Account mapping: proposed after the first pull from the company's article account codings" \
  "(GET /account-mapping); pushes use it as soon as it is complete"
call GET "$BASE/account-mapping" 200
each 'd["sales"]' 'VAT {vat_rate:>2} %  revenue {revenue_account}  VAT account {vat_account}  article {article_id}'
fmt 'accounts {accounts}  confirmed={confirmed}  complete={complete}'
[ "$(get 'd["complete"]')" = true ] || fail "the proposed mapping is not complete"
mapping=$(get '{"sales": [{k: e[k] for k in ("vat_rate", "article_coding_id", "revenue_account", "vat_account")} for e in d["sales"]], "accounts": d["accounts"]}')
info "The owner reviews it and clicks Save: PUT /account-mapping with the same entries"
call PUT "$BASE/account-mapping" 200 "$mapping"
fmt 'confirmed={confirmed}  complete={complete}'
call GET "$BASE" 200
fmt 'status warnings now: {warnings}'

today=$(date -u +%Y-%m-%d)
due=$(python3 -c 'import datetime; print(datetime.date.today() + datetime.timedelta(days=30))')
run_id=$(date +%s)   # keeps event ids unique if the demo runs again against the same service
customer='{"id": "cus_demo_1", "number": "10042", "name": "Exempel Bygg AB", "is_private_person": false,
  "org_number": "556677-8899", "vat_number": "SE556677889901", "email": "faktura@exempel.se",
  "address": {"line1": "Storgatan 1", "line2": null, "postal_code": "11122", "city": "Stockholm", "country_code": "SE"},
  "currency": "SEK", "payment_terms_days": 30}'
event() { # id type data
  printf '{"id": "%s", "type": "%s", "tenant": "%s", "created_at": "%s", "data": %s}' \
    "$1" "$2" "$TENANT" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$3"
}

step "A customer created in Aourly: signed webhook customer.created (POST /webhooks/aourly)" \
  "202 means stored and queued; the worker creates the customer in Visma (or matches it by number / org number)"
webhook "$(event "evt_demo_customer_$run_id" customer.created "{\"customer\": $customer}")"
show '"answer: " + json.dumps(d)'
wait_for "the customer to sync" "$BASE/sync-items?kind=customer" \
  'any(i["id"] == "cus_demo_1" and i["status"] in ("synced", "failed", "blocked") for i in d["items"])'
each '[i for i in d["items"] if i["id"] == "cus_demo_1"]' 'sync item customer/{id}: {status}  visma_id={visma_id}  last_error={last_error}'
[ "$(get '[i["status"] for i in d["items"] if i["id"] == "cus_demo_1"][0]')" = synced ] || fail "the customer did not sync"

# Two lines (25 % and 6 %); totals by Visma's rule (integration guide "Webhooks from Aourly"), computed here.
invoice=$(python3 - "$customer" "$today" "$due" <<'PY'
import json, sys
from decimal import Decimal, ROUND_HALF_UP
customer, issue, due = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
r2 = lambda x: x.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
lines = [
    {"description": "Konsulttimmar", "quantity": "12.5", "unit": "h", "unit_price": "950.00", "vat_rate": "25", "discount_percent": "0"},
    {"description": "Kursbok", "quantity": "2", "unit": "st", "unit_price": "299.00", "vat_rate": "6", "discount_percent": "10"},
]
nets = {}
for l in lines:
    n = r2(Decimal(l["quantity"]) * Decimal(l["unit_price"]) * (1 - Decimal(l["discount_percent"]) / 100))
    nets[l["vat_rate"]] = nets.get(l["vat_rate"], Decimal(0)) + n
net = sum(nets.values())
vat = sum(r2(n * Decimal(rate) / 100) for rate, n in nets.items())
print(json.dumps({"invoice": {"id": "inv_demo_1", "number": "1042", "customer": customer,
    "issue_date": issue, "due_date": due, "currency": "SEK", "your_reference": "Anna Andersson",
    "our_reference": None, "lines": lines,
    "totals": {"net": f"{net:.2f}", "vat": f"{vat:.2f}", "gross": f"{net + vat:.2f}"}}}))
PY
)
step "An invoice made in Aourly: signed webhook invoice.created (Aourly invoice 1042, dated $today)" \
  "the worker creates and books it in Visma with one article per VAT rate from the mapping"
invoice_event=$(event "evt_demo_invoice_$run_id" invoice.created "$invoice")
webhook "$invoice_event"
show '"answer: " + json.dumps(d)'
info "Aourly delivering the same event again (a retry) is acknowledged and does nothing:"
webhook "$invoice_event"
show '"answer: " + json.dumps(d)'
wait_for "the invoice to sync" "$BASE/sync-items?kind=invoice" \
  'any(i["id"] == "inv_demo_1" and i["status"] in ("synced", "failed", "blocked") for i in d["items"])'
each '[i for i in d["items"] if i["id"] == "inv_demo_1"]' 'sync item invoice/{id}: {status}  Visma invoice number {visma_number}  last_error={last_error}'
[ "$(get '[i["status"] for i in d["items"] if i["id"] == "inv_demo_1"][0]')" = synced ] || fail "the invoice did not sync"
invoice_visma_id=$(get '[i["visma_id"] for i in d["items"] if i["id"] == "inv_demo_1"][0]')

step "A voucher booked in Aourly (an expense): signed webhook voucher.created" \
  "checked against the pulled chart and fiscal years, then booked in Visma with [Aourly <id>] in its text"
webhook "$(event "evt_demo_voucher_$run_id" voucher.created "{\"voucher\": {\"id\": \"vch_demo_1\", \"date\": \"$today\", \"text\": \"Utlägg tåg\", \"rows\": [
  {\"account\": \"5800\", \"debit\": \"800.00\", \"credit\": \"0\", \"text\": \"Resa\"},
  {\"account\": \"2641\", \"debit\": \"48.00\", \"credit\": \"0\", \"text\": \"Moms 6%\"},
  {\"account\": \"1930\", \"debit\": \"0\", \"credit\": \"848.00\", \"text\": null}]}}")"
show '"answer: " + json.dumps(d)'
wait_for "the voucher to sync" "$BASE/sync-items?kind=voucher" \
  'any(i["id"] == "vch_demo_1" and i["status"] in ("synced", "failed", "blocked") for i in d["items"])'
each '[i for i in d["items"] if i["id"] == "vch_demo_1"]' 'sync item voucher/{id}: {status}  Visma voucher {visma_number}  last_error={last_error}'
[ "$(get '[i["status"] for i in d["items"] if i["id"] == "vch_demo_1"][0]')" = synced ] || fail "the voucher did not sync"

step "Sync items: the per-record state behind the card's error list (GET /sync-items)"
call GET "$BASE/sync-items" 200 "" "$SERVICE_TOKEN"
each 'd["items"]' '{kind:8} {id:12} {status:7} visma_number={visma_number}  attempts={attempts}  last_error={last_error}'
call GET "$BASE" 200 "" "$SERVICE_TOKEN"
show '"counts " + json.dumps(d["counts"]) + ", warnings " + json.dumps(d["warnings"])'

step "What landed in Visma (the sandbox's admin API for $COMPANY_NAME)"
curl -fsS -o "$BODY" "$SANDBOX/_sandbox/companies/$COMPANY_ID/customers" || fail "sandbox customers"
each 'd' 'customer {CustomerNumber} {Name} ({CorporateIdentityNumber})  id {Id}'
curl -fsS -o "$BODY" "$SANDBOX/_sandbox/companies/$COMPANY_ID/customer-invoices" || fail "sandbox invoices"
each 'd' 'invoice {InvoiceNumber}  {InvoiceDate:.10}  BuyersOrderReference "{BuyersOrderReference}"  total {TotalAmount} (VAT {TotalVatAmount})  booked as voucher {VoucherNumber}'
[ "$(get "[i.get('BuyersOrderReference') for i in d if i['Id'] == '$invoice_visma_id']")" = '["Aourly 1042"]' ] \
  || fail "Visma has no invoice $invoice_visma_id with BuyersOrderReference \"Aourly 1042\""
curl -fsS -o "$BODY" "$SANDBOX/_sandbox/companies/$COMPANY_ID/vouchers" || fail "sandbox vouchers"
each 'd' 'voucher {NumberAndNumberSeries}  {VoucherDate:.10}  type {VoucherType}  "{VoucherText}"'
curl -fsS -o "$BODY" "$SANDBOX/_sandbox/log" || fail "sandbox log"
show '"%d requests reached Visma so far; the last few:" % len(d)'
each 'd[-6:]' '  {status} {method:4} {path}'

step "Try it yourself" \
  "tokens for tenant $TENANT, valid for an hour (mint others with the jwt() function in this script):"
info "export OWNER=$OWNER"
info "export SERVICE_JWT=$SERVICE_TOKEN"
info "curl -s -H \"Authorization: Bearer \$SERVICE_JWT\" $BASE/sync-items?status=failed"
info "curl -s -X POST -H \"Authorization: Bearer \$OWNER\" $BASE/sync          # manual sync"
info "curl -s $SANDBOX/_sandbox/log                  # every request that reached \"Visma\""
info "the service's log: .local/service.log (JSON lines; never tokens or payloads); routes: docs/openapi.yaml"
printf '\n'; bold "demo ok"; printf ' (tenant %s, %d steps)\n' "$TENANT" "$step_no"
