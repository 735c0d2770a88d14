{{/*
Labels of every object: the kustomize install's (name, component, part-of)
plus Helm's own. Call with (dict "component" "controller" "ctx" $); an empty
component leaves the label out (the objects shared by both modes).
*/}}
{{- define "nodeguard.labels" -}}
app.kubernetes.io/name: nodeguard
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
app.kubernetes.io/part-of: nodeguard
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version }}
{{- end }}

{{/* Selector labels: the kustomize install's, so that a switch from kustomize
to Helm (or back) keeps the workloads' immutable selectors. */}}
{{- define "nodeguard.selectorLabels" -}}
app.kubernetes.io/name: nodeguard
app.kubernetes.io/component: {{ . }}
{{- end }}

{{- define "nodeguard.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "nodeguard.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
