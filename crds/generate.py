#!/usr/bin/env python3
"""Generates the NodeHealthPolicy CRD and the field reference in docs/api.md.

The schema below is the single source of truth for the API's user-facing
contract: field names, descriptions (what `kubectl explain` prints), defaults,
bounds and validation rules. Running this script rewrites

  crds/nodeguard.io_nodehealthpolicies.yaml
  manifests/charts/nodeguard/crds/nodeguard.io_nodehealthpolicies.yaml (the
    Helm chart's copy: Helm reads crds/ only inside the chart)
  docs/api.md (only between the GENERATED markers)

and `generate.py --check` fails when any is out of date (a unit test runs it).
The C++ types in controller/api/ mirror this schema; tests/unit/api checks that
the C++ defaults equal the defaults declared here.

Only the Python standard library is used, so the check runs on a fresh machine.
"""

import argparse
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRD_PATH = os.path.join(ROOT, "crds", "nodeguard.io_nodehealthpolicies.yaml")
CHART_CRD_PATH = os.path.join(ROOT, "manifests", "charts", "nodeguard", "crds",
                              "nodeguard.io_nodehealthpolicies.yaml")
DOC_PATH = os.path.join(ROOT, "docs", "api.md")
DOC_BEGIN = "<!-- BEGIN GENERATED FIELD REFERENCE: edit crds/generate.py, then run it -->"
DOC_END = "<!-- END GENERATED FIELD REFERENCE -->"

# Go's time.ParseDuration syntax without a sign: negative durations are rejected.
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"
# What a malformed or negative duration is told, by the API server (a CEL rule,
# not a `pattern`, whose message would only quote the regex) and by nodeguard
# (api::ParseApiDuration says the same words).
DURATION_MESSAGE = "must be a Go duration such as 90s, 5m or 1h30m, never negative"
CONDITION_TYPE_PATTERN = (r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                          r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$")
CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


# ---------------------------------------------------------------- schema helpers
# Each helper returns a dict in the order the YAML should print. Keys starting
# with "_" are for the docs only and are stripped from the CRD.


def rule(expr, message, message_expression=None, reason=None, field_path=None):
    r = {"rule": expr, "message": message}
    if message_expression:
        r["messageExpression"] = message_expression
    if reason:
        r["reason"] = reason
    if field_path:
        r["fieldPath"] = field_path
    return r


def _common(schema, description, default=None, rules=None):
    schema["description"] = description
    if default is not None:
        schema["default"] = default
    if rules:
        schema["x-kubernetes-validations"] = rules
    return schema


def obj(description, properties, required=None, default=None, rules=None, extra=None):
    s = {"type": "object"}
    _common(s, description, default, rules)
    if required:
        s["required"] = required
    s["properties"] = properties
    if extra:
        s.update(extra)
    return s


def string(description, default=None, rules=None, enum=None, pattern=None, min_length=None,
           max_length=None, doc_type="string"):
    s = {"type": "string"}
    _common(s, description, default, rules)
    if enum:
        s["enum"] = enum
    if pattern:
        s["pattern"] = pattern
    if min_length is not None:
        s["minLength"] = min_length
    if max_length is not None:
        s["maxLength"] = max_length
    s["_doc_type"] = doc_type
    return s


def integer(description, default=None, minimum=None, maximum=None, fmt="int32", rules=None):
    s = {"type": "integer", "format": fmt}
    _common(s, description, default, rules)
    if minimum is not None:
        s["minimum"] = minimum
    if maximum is not None:
        s["maximum"] = maximum
    return s


def boolean(description, default=None):
    return _common({"type": "boolean"}, description, default)


def array(description, items, default=None, min_items=None, max_items=None, list_type="atomic",
          rules=None):
    s = {"type": "array"}
    _common(s, description, default, rules)
    if min_items is not None:
        s["minItems"] = min_items
    if max_items is not None:
        s["maxItems"] = max_items
    s["x-kubernetes-list-type"] = list_type
    s["items"] = items
    return s


def duration(description, default=None, positive=False):
    """A metav1.Duration: a Go duration string such as "90s", "5m" or "1h30m"."""
    rules = [rule(f"self.matches(r'{DURATION_PATTERN}')", DURATION_MESSAGE)]
    if positive:
        # Guarded by the format rule so a malformed value reports only DURATION_MESSAGE.
        rules.append(rule(
            f"!self.matches(r'{DURATION_PATTERN}') || duration(self) > duration('0s')",
            "must be longer than 0s"))
    return string(description + " A Go duration such as `90s`, `5m` or `1h30m`; never negative.",
                  default=default, rules=rules, max_length=64, doc_type="duration")


# The largest count of an int-or-percent field: int32, as intstr.IntOrString
# carries it, so nodeguard's int budgets never wrap (api::kMaxIntOrPercentCount).
MAX_INT_OR_PERCENT_COUNT = 2147483647


def int_or_percent(description, default, percent_max, percent_rule_message):
    """An intstr.IntOrString: a count, or a percent string such as "90%"."""
    pct = r"^(100|[1-9]?[0-9])%$" if percent_max == 100 else r"^[1-9]?[0-9]%$"
    s = {"x-kubernetes-int-or-string": True}
    _common(s, description, default, [
        rule(f"type(self) == int ? self >= 0 : self.matches('{pct}')", percent_rule_message),
        rule(f"type(self) != int || self <= {MAX_INT_OR_PERCENT_COUNT}",
             f"must be at most {MAX_INT_OR_PERCENT_COUNT}"),
    ])
    s["maxLength"] = 8  # Bounds the CEL cost estimate of the string form.
    s["_doc_type"] = "int or percent"
    return s


def label_selector(description, what):
    requirement = obj(
        "A label selector requirement: a key, an operator and values.",
        {
            "key": string("The label key the selector applies to.", min_length=1,
                          max_length=317),
            "operator": string("How the key relates to the values.",
                               enum=["In", "NotIn", "Exists", "DoesNotExist"]),
            "values": array(
                "Label values. Non-empty for `In` and `NotIn`; empty for `Exists` and "
                "`DoesNotExist`.",
                string("A label value.", max_length=63), max_items=64),
        },
        required=["key", "operator"],
        rules=[
            rule("self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 "
                 ": !has(self.values) || size(self.values) == 0",
                 "values must be non-empty when operator is In or NotIn, and empty when operator "
                 "is Exists or DoesNotExist"),
            rule("!format.qualifiedName().validate(self.key).hasValue()",
                 "key must be a valid label key: an optional DNS subdomain prefix and '/', then a "
                 "name of at most 63 characters (alphanumerics, '-', '_', '.')"),
        ])
    return obj(
        description + " A standard Kubernetes label selector: `matchLabels` and "
        "`matchExpressions` are ANDed; an empty selector matches every " + what + ".",
        {
            "matchLabels": _common(
                {"type": "object", "additionalProperties": {"type": "string", "maxLength": 63},
                 "maxProperties": 64, "_doc_type": "map[string]string"},
                f"{what.capitalize()}s must carry each of these labels with exactly this value.",
                rules=[
                    rule("self.all(k, !format.qualifiedName().validate(k).hasValue())",
                         "keys must be valid label keys: an optional DNS subdomain prefix and "
                         "'/', then a name of at most 63 characters (alphanumerics, '-', '_', "
                         "'.')"),
                    rule("self.all(k, !format.labelValue().validate(self[k]).hasValue())",
                         "values must be valid label values: at most 63 characters, alphanumerics, "
                         "'-', '_', '.', beginning and ending with an alphanumeric"),
                ]),
            "matchExpressions": array(
                "Requirements on labels, all of which must hold.", requirement, max_items=32),
        },
        default={})


def condition_schema():
    """metav1.Condition, exactly as Kubernetes declares it."""
    return obj(
        "A condition of the policy (metav1.Condition).",
        {
            "type": string("The condition type: `Ready`, `Paused`, `StormDetected`, "
                           "`Degraded` or `NotificationsFailing`.",
                           pattern=CONDITION_TYPE_PATTERN, max_length=316),
            "status": string("`True`, `False` or `Unknown`.", enum=["True", "False", "Unknown"]),
            "observedGeneration": integer(
                "The `metadata.generation` this condition was set from.", minimum=0, fmt="int64"),
            "lastTransitionTime": time_field("When the status last changed."),
            "reason": string("A CamelCase reason for the last transition, for programs.",
                             pattern=CONDITION_REASON_PATTERN, min_length=1, max_length=1024),
            "message": string("What the condition means right now, for humans.",
                              max_length=32768),
        },
        required=["type", "status", "lastTransitionTime", "reason", "message"])


def time_field(description):
    return {"type": "string", "format": "date-time", "description": description,
            "_doc_type": "date-time"}


# ---------------------------------------------------------------- the schema

ACTIONS = ["RestartContainerRuntime", "RestartKubelet", "Reboot", "External"]
RESOURCES = ["cpu", "memory", "ephemeral-storage"]

# Each field valid on its own (its schema bounds), for the cross-field rules.
MAX_PODS_OK = "has(self.maxPods) && self.maxPods >= 1 && self.maxPods <= 1000"
TAINT_AHEAD_OK = "self.taintAhead >= 0 && self.taintAhead <= 100"
RELEASE_COUNT_OK = ("type(self.releaseBelow) == int && self.releaseBelow >= 0 && "
                    f"self.releaseBelow <= {MAX_INT_OR_PERCENT_COUNT}")

POD_DENSITY = obj(
    "Caps the number of pods per node. A node whose counted pods reach its cap gets a taint "
    "(`NoSchedule` by default) so the scheduler stops adding pods; the taint is removed once the "
    "count falls below `releaseBelow`. The cap of a node is the smallest of `maxPods`, "
    "`maxPodsPerCore` times its CPU capacity in whole cores, and its allocatable pods. Absent: no "
    "cap.",
    {
        "enabled": boolean("Whether the cap is enforced. Set to false to keep the settings but "
                           "stop capping.", default=True),
        "maxPods": integer("The most pods a selected node may run. At least one of `maxPods` and "
                           "`maxPodsPerCore` is required when enabled.", minimum=1, maximum=1000),
        "maxPodsPerCore": integer("The most pods per CPU core of the node's capacity (like the "
                                  "kubelet's podsPerCore); cores are rounded down, at least 1.",
                                  minimum=1, maximum=1000),
        "releaseBelow": int_or_percent(
            "The taint is removed when the node's counted pods fall below this: a pod count, or a "
            "percent of the node's cap (rounded down). Must be below the cap, so a node does not "
            "flap between tainted and untainted. An absolute count that is not below a node's cap "
            "(possible with `maxPodsPerCore`) acts as the cap minus `taintAhead`.",
            default="90%", percent_max=99,
            percent_rule_message="must be a pod count (0 or more) or a percent of the cap "
                                 "below 100%, such as \"90%\""),
        "taint": obj(
            "The taint put on a node at its cap.",
            {
                "key": string("The taint key.", default="nodeguard.io/pod-density-exceeded",
                              max_length=317,
                              rules=[rule("!format.qualifiedName().validate(self).hasValue()",
                                          "must be a valid taint key: an optional DNS subdomain "
                                          "prefix and '/', then a name of at most 63 characters "
                                          "(alphanumerics, '-', '_', '.')")]),
                "value": string("An optional taint value.", max_length=63,
                                rules=[rule("!format.labelValue().validate(self).hasValue()",
                                            "must be a valid taint value: at most 63 characters, "
                                            "alphanumerics, '-', '_', '.', beginning and ending "
                                            "with an alphanumeric")]),
                "effect": string(
                    "`NoSchedule` (new pods are not scheduled on the node) or `PreferNoSchedule` "
                    "(the scheduler avoids the node). `NoExecute` is not accepted: it would evict "
                    "the pods already running.",
                    # No enum: the API server skips CEL rules once a schema check fails,
                    # and NoExecute deserves the reason, not just "unsupported value".
                    default="NoSchedule", max_length=32, doc_type="string (enum)",
                    rules=[rule("self != 'NoExecute'",
                                "NoExecute is not allowed: it would evict the pods already "
                                "running on the node; use NoSchedule or PreferNoSchedule"),
                           rule("self == 'NoExecute' || self in ['NoSchedule', 'PreferNoSchedule']",
                                "must be NoSchedule or PreferNoSchedule")]),
            },
            default={}),
        "countDaemonSetPods": boolean(
            "Whether pods owned by a DaemonSet count towards the cap. They load the container "
            "runtime like any other pod, so they count by default.", default=True),
        "taintAhead": integer(
            "Taint a node this many pods before its cap, to absorb pods the scheduler binds in "
            "the moment before the taint lands.", default=0, minimum=0, maximum=100),
        "evictOverflow": boolean(
            "Off by default. When true, a node holding more counted pods than its cap (the cap, "
            "not the taint mark) gets the excess evicted through the Eviction API, newest pods "
            "first, so PodDisruptionBudgets are respected (a refused pod is skipped and retried "
            "later). Only pods `kubectl drain` would evict without flags are chosen: pods of a "
            "controller (ReplicaSet, StatefulSet, Job, ...) without emptyDir volumes; never "
            "DaemonSet, mirror (static) or bare pods, nor pods already terminating. It exists "
            "because a taint cannot bound what the scheduler binds in one burst: a node whose "
            "taint is released below the release mark can receive a whole Pending backlog and "
            "overshoot its cap. In dryRun the Event says what would be evicted.",
            default=False),
    },
    # The cross-field rules compare only values that are valid on their own:
    # the API server evaluates CEL rules even when a field breaks its bounds
    # (only a wrong type stops them), and an out-of-range maxPods must be
    # reported once, not again by every rule that reads it.
    rules=[
        rule("!self.enabled || has(self.maxPods) || has(self.maxPodsPerCore)",
             "set maxPods, maxPodsPerCore or both: an enabled podDensity needs a cap",
             reason="FieldValueRequired"),
        rule(f"!({MAX_PODS_OK} && {RELEASE_COUNT_OK}) || self.releaseBelow < self.maxPods",
             "releaseBelow must be below maxPods (the cap), so the taint is removed only after the "
             "node has room again",
             field_path=".releaseBelow"),
        rule(f"!({MAX_PODS_OK} && {RELEASE_COUNT_OK} && {TAINT_AHEAD_OK}) || "
             "self.taintAhead == 0 || self.releaseBelow <= self.maxPods - self.taintAhead",
             "releaseBelow must not exceed maxPods minus taintAhead (the count at which the taint "
             "is added), or the taint would flap",
             field_path=".releaseBelow"),
        rule(f"!({MAX_PODS_OK} && {TAINT_AHEAD_OK}) || self.taintAhead < self.maxPods",
             "taintAhead must be below maxPods", field_path=".taintAhead"),
    ])

UNHEALTHY_CONDITION = obj(
    "A node is unhealthy while one of its conditions matches this rule for at least `duration`.",
    {
        "type": string("The node condition type, such as `Ready`, or a type a node problem "
                       "detector sets.", pattern=CONDITION_TYPE_PATTERN, min_length=1,
                       max_length=316),
        "status": string("The condition status that means unhealthy.",
                         enum=["True", "False", "Unknown"]),
        "reason": string("If set, the condition's reason must equal this.", max_length=1024),
        "messageRegex": string(
            "If set, the condition's message must contain a match of this RE2 regular "
            "expression (https://github.com/google/re2/wiki/Syntax), searched in the first 4 KiB "
            "of the message. Inline flags such as `(?i)` work; RE2 has no lookarounds or "
            "backreferences. Write named groups as `(?P<name>...)`.",
            max_length=1024,
            rules=[rule("''.matches(self) || !''.matches(self)",
                        "must be a valid regular expression")]),
        "duration": duration("How long the condition must hold (since its lastTransitionTime) "
                             "before the node counts as unhealthy.", default="5m"),
    },
    required=["type", "status"],
    rules=[rule("!(self.type == 'Ready' && self.status == 'True')",
                "Ready=True describes a healthy node; use status False or Unknown")])

HEALTH = obj(
    "How nodeguard decides that a node is unhealthy.",
    {
        "unhealthyConditions": array(
            "A node is unhealthy when any of these rules matches. The default catches the PLEG "
            "failure (`Ready=False` with `PLEG is not healthy` for 3m) and a node whose kubelet "
            "stopped reporting (`Ready=Unknown` for 5m).",
            UNHEALTHY_CONDITION,
            default=[
                {"type": "Ready", "status": "False", "messageRegex": "PLEG is not healthy",
                 "duration": "3m"},
                {"type": "Ready", "status": "Unknown", "duration": "5m"},
            ],
            min_items=1, max_items=16),
    },
    default={})

DRAIN = obj(
    "How a node is drained before its remediation, as `kubectl drain` does it: pods are evicted "
    "(respecting PodDisruptionBudgets), DaemonSet pods and mirror pods stay.",
    {
        "timeout": duration("The longest the whole drain may take; on timeout the remediation "
                            "fails and the node stays cordoned (like `kubectl drain --timeout`).",
                            default="10m", positive=True),
        "gracePeriodSeconds": integer(
            "Termination grace period given to each evicted pod; unset uses each pod's own "
            "(like `--grace-period`).", minimum=0, maximum=86400, fmt="int64"),
        "deleteEmptyDirData": boolean("Evict pods using emptyDir volumes, whose data is lost "
                                      "(like `--delete-emptydir-data`).", default=False),
        "force": boolean("Also evict pods that no controller manages; they are not recreated "
                         "(like `--force`).", default=False),
        "skipWaitForDeleteTimeout": duration(
            "Stop waiting for a pod whose deletionTimestamp is older than this; `0s` always "
            "waits (like `--skip-wait-for-delete-timeout`).", default="0s"),
        "notReadySkipWaitForDeleteTimeout": duration(
            "On a node whose Ready condition is not True, stop waiting for an evicted pod that "
            "has been terminating this long, whatever its grace period, and go on with the "
            "remediation; `0s` does not wait at all. A kubelet that is not Ready (PLEG not "
            "healthy, container runtime down) does not sync pods: their deletion completes "
            "only once the runtime is repaired, which is what the remediation is for. Evictions "
            "are still sent and PodDisruptionBudgets still respected. On a Ready node "
            "`skipWaitForDeleteTimeout` applies, as in `kubectl drain`.", default="30s"),
        "podSelector": label_selector("Only pods matching this selector are evicted "
                                      "(like `--pod-selector`).", "pod"),
    },
    default={})

REMEDIATION = obj(
    "Repairs unhealthy nodes one at a time (by default): cordon, drain, then climb the `actions` "
    "ladder one rung per attempt until the node is healthy again, then uncordon. Nothing new "
    "starts while more than `maxUnhealthy` nodes are unhealthy (a storm). Absent: nodes are only "
    "reported.",
    {
        "enabled": boolean("Whether remediation runs. Set to false to keep the settings but start "
                           "nothing new.", default=True),
        "maxConcurrent": integer("How many nodes may be in remediation at once.", default=1,
                                 minimum=1, maximum=100),
        "maxUnhealthy": int_or_percent(
            "A storm guard: when more selected nodes than this are unhealthy, no new remediation "
            "starts (draining would push the pods onto the few nodes left). A node count, or a "
            "percent of selected nodes (rounded up).",
            default="30%", percent_max=100,
            percent_rule_message="must be a node count (0 or more) or a percent from 0% to 100%, "
                                 "such as \"30%\""),
        "actions": array(
            "The remediation ladder, in order; each attempt on a node runs the next rung. Empty "
            "or absent: cordon and drain only, and leave the repair to a human or another system. "
            "`External` hands the node to an external remediator and must be last.",
            string("A remediation action carried out by the nodeguard agent on the node.",
                   enum=ACTIONS),
            max_items=4, list_type="set",
            rules=[rule("!('External' in self) || self[size(self) - 1] == 'External'",
                        "External hands the node to another system and must be the last "
                        "action")]),
        "drain": DRAIN,
        "actionTimeout": duration("How long one action may take until the node reports Ready "
                                  "again; then the next attempt begins.", default="10m",
                                  positive=True),
        "recoveryStableFor": duration("How long a remediated node must stay healthy before it "
                                      "is uncordoned.", default="2m"),
        "cooldown": duration("The least time between two remediations of the same node.",
                             default="30m"),
        "holdSlotAfterFailure": duration(
            "How long a failed remediation that leaves its node cordoned keeps holding its "
            "remediation slot (`maxConcurrent` and the controller's global cap). After it the "
            "node stays cordoned and reported in the Degraded condition, but the next sick node "
            "may be remediated. `0s` holds the slot until a person uncordons the node.",
            default="30m"),
        "maxAttemptsPerNode": integer(
            "After this many remediations of one node without lasting recovery, nodeguard leaves "
            "it cordoned for a human and reports it in the Degraded condition. The count resets "
            "once the node stays healthy for a full `cooldown`.",
            default=3, minimum=1, maximum=100),
        "takeOverCordonedNodes": boolean(
            "Also remediate nodes that someone else cordoned. By default they are left alone: a "
            "human is probably working on them.", default=False),
    },
    rules=[
        # `!= 0`, not `>= 1`: a negative count is the field's own error, once.
        rule("!self.enabled || (type(self.maxUnhealthy) == int ? self.maxUnhealthy != 0 : "
             "self.maxUnhealthy != '0%')",
             "maxUnhealthy must allow at least one unhealthy node when remediation is enabled, "
             "or every sick node would count as a storm and none would be repaired",
             field_path=".maxUnhealthy"),
    ])

RESOURCE_LIST = string("A resource name.", enum=RESOURCES)

RESOURCE_HYGIENE = obj(
    "Flags pods whose containers lack resource requests or limits, and nodes that reserve "
    "nothing for the system. Flagging means: counted in status, a Warning Event on the pod, and "
    "optionally an annotation. Pods are never modified otherwise. Absent: no checks.",
    {
        "enabled": boolean("Whether the checks run.", default=True),
        "requiredRequests": array("Resource requests every container must set.", RESOURCE_LIST,
                                  default=["cpu", "memory"], max_items=3, list_type="set"),
        "requiredLimits": array("Resource limits every container must set.", RESOURCE_LIST,
                                default=["memory"], max_items=3, list_type="set"),
        "includeInitContainers": boolean("Whether init containers must set them too.",
                                         default=True),
        "excludeNamespaces": array(
            "Namespaces whose pods are not checked.",
            string("A namespace name.", max_length=63,
                   rules=[rule("!format.dns1123Label().validate(self).hasValue()",
                               "must be a valid namespace name (a DNS-1123 label)")]),
            default=["kube-system"], max_items=256, list_type="set"),
        "annotatePods": boolean("Write the findings to the `nodeguard.io/resource-findings` "
                                "annotation of each flagged pod.", default=False),
        "emitEvents": boolean("Emit a Warning Event on each flagged pod.", default=True),
        "flagNodesWithoutSystemReserve": boolean(
            "Flag nodes whose allocatable CPU and memory equal their capacity: nothing is "
            "reserved for the kubelet, the runtime and systemd (kubelet `--system-reserved`, "
            "`--kube-reserved`).", default=True),
    },
    rules=[
        rule("!self.enabled || size(self.requiredRequests) > 0 || size(self.requiredLimits) > 0 "
             "|| self.flagNodesWithoutSystemReserve",
             "an enabled resourceHygiene must check something: require some requests or limits, "
             "or set flagNodesWithoutSystemReserve"),
    ])


def _duration_ok(field):
    """CEL: `field` is a well-formed duration longer than 0s (its own rules hold)."""
    return (f"self.{field}.matches(r'{DURATION_PATTERN}') && "
            f"duration(self.{field}) > duration('0s')")


REDUCE_BY_MESSAGE = ("must be a pod count from 1 to 1000 or a percent of the cap from 1% to 99%, "
                     "such as \"20%\"")

ADAPTIVE_CAP = obj(
    "Lowers the pod-density cap (`podDensity`) of a node while the early-warning level its "
    "agent publishes is `Degraded` or `Critical`, so the node takes no more pods while its "
    "runtime is slow. The density taint's marks (`taintAhead`, `releaseBelow`) apply to the "
    "lowered cap. The cap is restored once the published level is `Healthy` again: the agent "
    "publishes `Healthy` only after its figures stayed calm for `hold` (2m by default), which is "
    "the cap's hysteresis; then `releaseBelow` of the restored cap decides when the taint goes. "
    "An annotation the controller cannot read (level `Unknown`) neither lowers nor restores the "
    "cap: a taint is neither added nor removed because of it. Without `podDensity` it does "
    "nothing.",
    {
        "reduceBy": {
            "x-kubernetes-int-or-string": True,
            "description": "How much lower the cap is while Degraded or Critical: a pod count, "
                           "or a percent of the node's cap (rounded up, so at least one pod). "
                           "The lowered cap is never below 1.",
            "default": "20%",
            "x-kubernetes-validations": [
                rule("type(self) == int ? self >= 1 && self <= 1000 : "
                     "self.matches('^[1-9][0-9]?%$')", REDUCE_BY_MESSAGE),
            ],
            "maxLength": 8,
            "_doc_type": "int or percent",
        },
    },)

EARLY_WARNING = obj(
    "The marks the nodeguard agent decides a node's early-warning level with (from its "
    "kubelet's PLEG relist metrics, published in the node's `nodeguard.io/early-warning` "
    "annotation; docs/early-warning.md), and the adaptive density cap. A node is `Degraded` "
    "while the relist p99 over the agent's window is above `degradedRelistP99`, `Critical` while "
    "its last relist is older than `criticalLastRelistAge`; it steps down from Critical once the "
    "last relist is at most `calmLastRelistAge` old, and returns to `Healthy` after its figures "
    "stayed calm (both calm marks) for `hold`. Absent: the agents use their own flags (the same "
    "defaults) and caps are not adapted.",
    {
        "degradedRelistP99": duration("A node is Degraded while its relist p99 is above this.",
                                      default="1s", positive=True),
        "calmRelistP99": duration("Calm: the relist p99 is at most this. Below "
                                  "`degradedRelistP99`.", default="500ms", positive=True),
        "criticalLastRelistAge": duration("A node is Critical while its last relist is older "
                                          "than this (a hung runtime).", default="30s",
                                          positive=True),
        "calmLastRelistAge": duration("Calm: the last relist is at most this old. Below "
                                      "`criticalLastRelistAge`.", default="10s", positive=True),
        "hold": duration("How long the figures must stay calm before a Degraded node is Healthy "
                         "again.", default="2m"),
        "adaptiveCap": ADAPTIVE_CAP,
    },
    rules=[
        rule(f"!({_duration_ok('calmRelistP99')} && {_duration_ok('degradedRelistP99')}) || "
             "duration(self.calmRelistP99) < duration(self.degradedRelistP99)",
             "calmRelistP99 must be below degradedRelistP99: a node recovers only once its relist "
             "is clearly faster than the mark that made it Degraded",
             field_path=".calmRelistP99"),
        rule(f"!({_duration_ok('calmLastRelistAge')} && "
             f"{_duration_ok('criticalLastRelistAge')}) || "
             "duration(self.calmLastRelistAge) < duration(self.criticalLastRelistAge)",
             "calmLastRelistAge must be below criticalLastRelistAge: a node leaves Critical only "
             "once its last relist is clearly more recent than the mark that made it Critical",
             field_path=".calmLastRelistAge"),
    ])

SPEC = obj(
    "What nodeguard enforces on the nodes this policy selects. When several policies select a "
    "node, the oldest (then the first by name) governs it and the others report a conflict.",
    {
        "nodeSelector": label_selector("The nodes this policy governs.", "node"),
        "paused": boolean("Stop acting: no new taints, cordons, drains or agent actions, and "
                          "density taints stay as they are. In-flight remediations take no new "
                          "disruptive step; only safe completions still happen (a node that "
                          "recovered is uncordoned). Status is still reported.", default=False),
        "dryRun": boolean("Decide everything but do nothing: what would be done is reported in "
                          "Events and status only.", default=False),
        "podDensity": POD_DENSITY,
        "health": HEALTH,
        "remediation": REMEDIATION,
        "resourceHygiene": RESOURCE_HYGIENE,
        "earlyWarning": EARLY_WARNING,
    },
    default={})

REMEDIATION_STATUS = obj(
    "One remediation of one node.",
    {
        "node": string("The node's name."),
        "phase": string("Where the remediation is: Cordoning, Draining, Acting, Verifying, "
                        "Uncordoning, or finished (Succeeded, Failed).",
                        enum=["Cordoning", "Draining", "Acting", "Verifying", "Uncordoning",
                              "Succeeded", "Failed"]),
        "action": string("The rung of the ladder being (or last) run.", enum=ACTIONS),
        "attempt": integer("Which remediation of this node this is, from 1.", minimum=1),
        "startedAt": time_field("When the remediation started."),
        "finishedAt": time_field("When it finished; unset while in flight."),
        "result": string("How it ended: Recovered, Failed, TimedOut or Aborted.",
                         enum=["Recovered", "Failed", "TimedOut", "Aborted"]),
        "message": string("What happened, for humans.", max_length=4096),
    },
    required=["node", "phase", "attempt", "startedAt"])

STATUS = obj(
    "What nodeguard observed and did, written by the controller.",
    {
        "observedGeneration": integer("The `metadata.generation` of the spec last acted on.",
                                      minimum=0, fmt="int64"),
        "conditions": array(
            "`Ready` (True: the spec is valid and enforced, reason `Enforcing`, or `DryRun` under "
            "spec.dryRun or the controller's --dry-run; False: reason `InvalidSpec` names the "
            "invalid fields), `Paused` (spec.paused; dry run is Ready's reason, not Paused), "
            "`StormDetected` (more than maxUnhealthy nodes are unhealthy), `Degraded` (something "
            "needs a human), `NotificationsFailing` (only with the controller's "
            "--notifications-config: True, reason `SinkFailing`, while a notification sink's last "
            "3 notifications or more failed, naming the sink and the reason; False, reason "
            "`Delivering`, otherwise).",
            condition_schema(), max_items=16, list_type="map",
            rules=None) | {"x-kubernetes-list-map-keys": ["type"]},
        "selectedNodes": integer("Nodes this policy selects and governs.", minimum=0),
        "readyNodes": integer("Selected nodes whose Ready condition is True.", minimum=0),
        "unhealthyNodes": integer("Selected nodes matching an unhealthy condition.", minimum=0),
        "cappedNodes": integer("Selected nodes tainted at their pod cap.", minimum=0),
        "remediatingNodes": integer("Selected nodes in remediation.", minimum=0),
        "podsFlagged": integer("Pods flagged by the resource hygiene checks.", minimum=0,
                               fmt="int64"),
        "remediations": array("Remediations in flight.", REMEDIATION_STATUS, max_items=100),
        "recentRemediations": array("The last finished remediations, newest first.",
                                    REMEDIATION_STATUS, max_items=10),
        "densityCappedNodes": array(
            "Nodes tainted at their cap (at most 50; `cappedNodes` has the total).",
            obj("A node at its pod cap.", {
                "node": string("The node's name."),
                "pods": integer("Its counted pods.", minimum=0),
                "cap": integer("Its effective cap: the policy's, lowered by "
                               "`spec.earlyWarning.adaptiveCap` while the node's early-warning "
                               "level is Degraded or Critical.", minimum=0),
            }, required=["node", "pods", "cap"]),
            max_items=50),
        "resourceHygiene": obj(
            "Summary of the resource hygiene findings.",
            {
                "namespaces": array(
                    "Flagged pods per namespace, most first (at most 20).",
                    obj("Flagged pods in one namespace.", {
                        "namespace": string("The namespace."),
                        "pods": integer("Pods flagged in it.", minimum=0),
                    }, required=["namespace", "pods"]),
                    max_items=20),
                "examplePods": array(
                    "Some flagged pods (at most 20).",
                    obj("A flagged pod and what it lacks.", {
                        "namespace": string("The pod's namespace."),
                        "name": string("The pod's name."),
                        "findings": string("What is missing, per container.", max_length=1024),
                    }, required=["namespace", "name"]),
                    max_items=20),
            }),
        "nodesWithoutSystemReserve": array(
            "Selected nodes that reserve no CPU or memory for the system (at most 50).",
            string("A node name."), max_items=50),
        "conflicts": array(
            "Nodes this policy selects that an older policy governs (at most 50).",
            obj("A node governed by another policy.", {
                "node": string("The node's name."),
                "governedBy": string("The policy that governs it."),
            }, required=["node", "governedBy"]),
            max_items=50),
        "earlyWarning": obj(
            "Governed nodes by the early-warning level their agent publishes in the "
            "`nodeguard.io/early-warning` annotation (`nodeguard agent --early-warning`); "
            "nodes without it are not counted. Absent while every count is 0.", {
                "healthy": integer("Nodes published Healthy.", minimum=0),
                "degraded": integer("Nodes published Degraded.", minimum=0),
                "critical": integer("Nodes published Critical.", minimum=0),
                "unknown": integer("Nodes whose annotation cannot be read (reported, not "
                                   "acted on).", minimum=0),
            }),
    })

PRINTER_COLUMNS = [
    {"name": "Nodes", "type": "integer", "jsonPath": ".status.selectedNodes",
     "description": "Nodes selected and governed"},
    {"name": "Unhealthy", "type": "integer", "jsonPath": ".status.unhealthyNodes",
     "description": "Selected nodes matching an unhealthy condition"},
    {"name": "Capped", "type": "integer", "jsonPath": ".status.cappedNodes",
     "description": "Nodes tainted at their pod cap"},
    {"name": "Remediating", "type": "integer", "jsonPath": ".status.remediatingNodes",
     "description": "Nodes in remediation"},
    {"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused",
     "description": "Whether the policy is paused"},
    {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status",
     "description": "Whether the spec is valid and enforced", "priority": 1},
    {"name": "DryRun", "type": "boolean", "jsonPath": ".spec.dryRun",
     "description": "Whether the policy only reports", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def crd():
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "nodehealthpolicies.nodeguard.io"},
        "spec": {
            "group": "nodeguard.io",
            "names": {
                "kind": "NodeHealthPolicy",
                "listKind": "NodeHealthPolicyList",
                "plural": "nodehealthpolicies",
                "singular": "nodehealthpolicy",
                "shortNames": ["nhp"],
                "categories": ["nodeguard"],
            },
            "scope": "Cluster",
            "versions": [{
                "name": "v1alpha1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": PRINTER_COLUMNS,
                "schema": {"openAPIV3Schema": obj(
                    "NodeHealthPolicy keeps the nodes it selects healthy: it caps pods per node, "
                    "detects and remediates sick nodes one at a time, and flags pods without "
                    "resource requests or limits. See docs/api.md.",
                    {
                        "apiVersion": string("APIVersion defines the versioned schema of this "
                                             "representation of an object."),
                        "kind": string("Kind is a string value representing the REST resource "
                                       "this object represents."),
                        "metadata": {"type": "object"},
                        "spec": SPEC,
                        "status": STATUS,
                    })},
            }],
        },
    }


# ---------------------------------------------------------------- YAML emitter

_PLAIN = re.compile(r"^[A-Za-z_./][A-Za-z0-9 _./()-]*$")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}


def _scalar(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    s = str(v)
    if (_PLAIN.match(s) and s.lower() not in _YAML_WORDS and not s.endswith(" ")
            and ": " not in s and " #" not in s):
        return s
    return json.dumps(s, ensure_ascii=False)


def _emit(v, indent, out):
    pad = "  " * indent
    if isinstance(v, dict):
        if not v:
            out.append(" {}")
            return
        first = True
        for k, item in v.items():
            prefix = "" if (first and out and out[-1].endswith("- ")) else pad
            if first and out and out[-1].endswith("- "):
                out[-1] += f"{_scalar(k)}:"
            else:
                out.append(f"{prefix}{_scalar(k)}:")
            first = False
            if isinstance(item, (dict, list)) and item:
                if isinstance(item, dict):
                    _emit(item, indent + 1, out)
                else:
                    _emit(item, indent, out)
            elif isinstance(item, (dict, list)):
                out[-1] += " {}" if isinstance(item, dict) else " []"
            else:
                out[-1] += " " + _scalar(item)
    elif isinstance(v, list):
        for item in v:
            if isinstance(item, dict) and not item:
                out.append(pad + "- {}")
            elif isinstance(item, dict):
                out.append(pad + "- ")
                _emit(item, indent + 1, out)
            elif isinstance(item, list):
                raise ValueError("nested lists are not used")
            else:
                out.append(pad + "- " + _scalar(item))


def to_yaml(v):
    out = []
    _emit(v, 0, out)
    return "\n".join(line.rstrip() for line in out) + "\n"


def strip_doc_keys(v):
    if isinstance(v, dict):
        return {k: strip_doc_keys(x) for k, x in v.items() if not k.startswith("_")}
    if isinstance(v, list):
        return [strip_doc_keys(x) for x in v]
    return v


# ---------------------------------------------------------------- docs


def _type_of(s):
    if "_doc_type" in s:
        return s["_doc_type"]
    t = s.get("type")
    if t == "array":
        return "[]" + _type_of(s["items"])
    if t == "integer":
        return s.get("format", "integer")
    return t or "object"


def _md(text):
    return text.replace("|", "\\|").replace("\n", " ")


def _constraints(s):
    c = []
    if "enum" in s:
        c.append("one of " + ", ".join(f"`{e}`" for e in s["enum"]))
    if "items" in s and "enum" in s["items"]:
        c.append("each one of " + ", ".join(f"`{e}`" for e in s["items"]["enum"]))
    if "minimum" in s:
        c.append(f"≥ {s['minimum']}")
    if "maximum" in s:
        c.append(f"≤ {s['maximum']}")
    if "minItems" in s:
        c.append(f"at least {s['minItems']} item(s)")
    if "maxItems" in s:
        c.append(f"at most {s['maxItems']} items")
    if s.get("x-kubernetes-list-type") == "set":
        c.append("no duplicates")
    if "maxLength" in s and s.get("_doc_type") not in ("duration", "int or percent"):
        c.append(f"at most {s['maxLength']} characters")
    if "pattern" in s and s.get("_doc_type") != "duration":
        c.append(f"matches `{s['pattern']}`")
    for r in s.get("x-kubernetes-validations", []):
        if r["message"] == DURATION_MESSAGE:
            continue  # The description says it.
        c.append(r["message"])
    return c


def _default(s):
    if "default" not in s:
        return ""
    d = s["default"]
    if isinstance(d, (dict, list)) and len(json.dumps(d)) > 40:
        return "see description"
    return "`" + json.dumps(d, ensure_ascii=False).replace("|", "\\|") + "`"


def _doc_object(path, s, required_here, out):
    out.append(f"### `{path}`\n")
    out.append(_md(s["description"]) + "\n")
    obj_rules = s.get("x-kubernetes-validations", [])
    out.append("| Field | Type | Default | Description |")
    out.append("| --- | --- | --- | --- |")
    nested = []
    for name, f in s["properties"].items():
        desc = _md(f.get("description", ""))
        cons = _constraints(f)
        if cons:
            desc += " <br>Rules: " + "; ".join(_md(x) for x in cons) + "."
        req = " (required)" if name in s.get("required", []) else ""
        out.append(f"| `{name}`{req} | {_type_of(f)} | {_default(f)} | {desc} |")
        child = f["items"] if f.get("type") == "array" else f
        if child.get("type") == "object" and "properties" in child:
            suffix = "[]" if f.get("type") == "array" else ""
            nested.append((f"{path}.{name}{suffix}", child))
    out.append("")
    if obj_rules:
        out.append("Cross-field rules:\n")
        for r in obj_rules:
            out.append(f"- {_md(r['message'])}.")
        out.append("")
    for p, child in nested:
        _doc_object(p, child, None, out)


def reference_markdown():
    root = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    out = [DOC_BEGIN, ""]
    _doc_object("spec", root["properties"]["spec"], None, out)
    _doc_object("status", root["properties"]["status"], None, out)
    out.append(DOC_END)
    return "\n".join(out)


# ---------------------------------------------------------------- main

HEADER = ("# Generated by crds/generate.py from its schema; do not edit by hand.\n"
          "# The NodeHealthPolicy API: docs/api.md.\n")


def render_crd():
    return HEADER + "---\n" + to_yaml(strip_doc_keys(crd()))


def render_doc(current):
    begin = current.find(DOC_BEGIN)
    end = current.find(DOC_END)
    if begin < 0 or end < 0:
        raise SystemExit(f"{DOC_PATH}: missing the GENERATED markers")
    return current[:begin] + reference_markdown() + current[end + len(DOC_END):]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="fail if the CRD or docs/api.md are not what this script generates")
    parser.add_argument("--print-schema-json", action="store_true",
                        help="print the CRD as JSON (for tests) and exit")
    args = parser.parse_args()
    if args.print_schema_json:
        json.dump(strip_doc_keys(crd()), sys.stdout, ensure_ascii=False, indent=1)
        return 0
    with open(DOC_PATH, encoding="utf-8") as f:
        doc = f.read()
    wanted = {CRD_PATH: render_crd(), CHART_CRD_PATH: render_crd(), DOC_PATH: render_doc(doc)}
    stale = []
    for path, text in wanted.items():
        try:
            with open(path, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current != text:
            stale.append(path)
            if not args.check:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
    if args.check and stale:
        for path in stale:
            print(f"{os.path.relpath(path, ROOT)} is out of date: run crds/generate.py",
                  file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
