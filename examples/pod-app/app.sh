#!/bin/sh
# An app in a pod on an edgetwin gateway: reads a twin through the local API (busybox wget with
# the pod's token) and sets a desired value the KubeEdge way, with a twin/update request on the
# embedded broker as user pod:<namespace>/<name> (MQTT 3.1.1 spoken by hand over busybox nc: the
# image needs no MQTT client). Everything it needs comes from the gateway:
#   EDGETWIN_API_URL, EDGETWIN_MQTT_URL, and the token at /var/run/edgetwin/token.
# Settings: DEVICE (ns/name of the twin), PROPERTY, VALUE; POD_NAMESPACE and POD_NAME (downward API).

TOKEN_FILE=${EDGETWIN_TOKEN_FILE:-/var/run/edgetwin/token}
DEVICE=${DEVICE:-default/thermostat}
PROPERTY=${PROPERTY:-setpoint}
VALUE=${VALUE:-21.5}

# GET a path of the local API; prints the body, or the error line (with the HTTP status) on failure.
api_get() {
  wget -q -O - --header "Authorization: Bearer $(cat "$TOKEN_FILE")" "$EDGETWIN_API_URL$1" 2>&1
}

# One byte of value $1, a 16-bit length, a length-prefixed string, MQTT's variable-length integer.
byte() { printf "\\$(printf %o "$1")"; }
u16() { byte $(($1 / 256)); byte $(($1 % 256)); }
str() { u16 ${#1}; printf %s "$1"; }
varint() {
  n=$1
  while :; do
    b=$((n % 128)); n=$((n / 128))
    if [ "$n" -gt 0 ]; then byte $((b + 128)); else byte "$b"; break; fi
  done
}

# Publishes $2 on topic $1 (QoS 0): CONNECT with user and password, PUBLISH, DISCONNECT.
mqtt_publish() {
  hostport=${EDGETWIN_MQTT_URL#*://}
  host=${hostport%:*}
  port=${hostport##*:}
  user="pod:$POD_NAMESPACE/$POD_NAME"
  pass=$(cat "$TOKEN_FILE")
  id="pod-app-$$"
  {
    byte 16; varint $((10 + 2 + ${#id} + 2 + ${#user} + 2 + ${#pass}))
    str MQTT; byte 4; byte 194; u16 60   # protocol 3.1.1; user name, password, clean session; keepalive
    str "$id"; str "$user"; str "$pass"
    sleep 1                              # the broker checks the password before it reads on
    byte 48; varint $((2 + ${#1} + ${#2})); str "$1"; printf %s "$2"
    sleep 1
    byte 224; byte 0
  } | nc "$host" "$port" >/dev/null 2>&1
}

ns=${DEVICE%/*}
name=${DEVICE#*/}
echo "pod $POD_NAMESPACE/$POD_NAME: API $EDGETWIN_API_URL, MQTT $EDGETWIN_MQTT_URL, device $DEVICE"

# The gateway opens its pod listeners once the pod bridge exists: wait for the API to answer.
i=0
while :; do
  out=$(api_get "/api/v1/devices/$ns/$name/twin")
  case "$out" in
    '{'*) echo "read the twin of $DEVICE"; break ;;
    *403*) echo "the API refused: 403 Forbidden (device $DEVICE is not in namespace $POD_NAMESPACE)"; break ;;
  esac
  i=$((i + 1))
  [ "$i" -ge 120 ] && { echo "the API did not answer: $out"; exit 1; }
  sleep 1
done

# Set the desired value with a KubeEdge twin/update (the "expected" value). Sent every 2 s for
# a minute: QoS 0 by hand has no acknowledgement, the broker's pod listener may open a while
# after the API's (it waits for the bridge), and setting the same value again is harmless.
topic="\$hw/events/device/$ns/$name/twin/update"
payload="{\"event_id\":\"pod-app-$$\",\"timestamp\":0,\"twin\":{\"$PROPERTY\":{\"expected\":{\"value\":\"$VALUE\"}}}}"
i=0
while [ "$i" -lt 30 ]; do
  mqtt_publish "$topic" "$payload"
  echo "published $PROPERTY=$VALUE on $topic"
  i=$((i + 1))
  sleep 2
done
exec sleep 2147483647
