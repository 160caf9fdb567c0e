{{/* Names and labels shared by every template. */}}

{{- define "secstash.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "secstash.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "secstash.selectorLabels" -}}
app.kubernetes.io/name: {{ include "secstash.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "secstash.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "secstash.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: pipeline
{{- end }}

{{- define "secstash.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "secstash.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding the settings file (a Secret: the file carries STS ExternalIds). */}}
{{- define "secstash.settingsSecretName" -}}
{{- printf "%s-settings" (include "secstash.fullname" .) }}
{{- end }}

{{/* The Secret whose keys become SECSTASH_* variables, or nothing. */}}
{{- define "secstash.secretName" -}}
{{- if .Values.secret.existingSecret }}
{{- .Values.secret.existingSecret }}
{{- else if .Values.secret.create }}
{{- include "secstash.fullname" . }}
{{- end }}
{{- end }}

{{- define "secstash.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "secstash.metricsPort" -}}
{{- $metrics := .Values.settings.metrics | default dict }}
{{- $metrics.port | default 9108 }}
{{- end }}

{{/* A Kubernetes quantity ("2Gi", "1536Mi", "3G", "2147483648") in MiB, rounded down. */}}
{{- define "secstash.mebibytes" -}}
{{- $quantity := toString . }}
{{- $factor := 1.0 }}
{{- range $suffix, $bytes := dict "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "k" 1000.0 "M" 1000000.0 "G" 1000000000.0 "T" 1000000000000.0 }}
{{- if hasSuffix $suffix $quantity }}
{{- $quantity = trimSuffix $suffix $quantity }}
{{- $factor = $bytes }}
{{- end }}
{{- end }}
{{- divf (mulf (float64 $quantity) $factor) 1048576 | floor | int64 }}
{{- end }}

{{/* The parser processes a pod starts: settings.pipeline.workers, else (as secstash does) its CPU limit
rounded up; 0 when neither is known (the node's CPUs). */}}
{{- define "secstash.workers" -}}
{{- $pipeline := .Values.settings.pipeline | default dict }}
{{- $cpu := (.Values.resources.limits | default dict).cpu }}
{{- if $pipeline.workers }}
{{- $pipeline.workers | int64 }}
{{- else if $cpu }}
{{- $cpu = toString $cpu }}
{{- if hasSuffix "m" $cpu }}
{{- divf (float64 (trimSuffix "m" $cpu)) 1000 | ceil | int64 | max 1 }}
{{- else }}
{{- float64 $cpu | ceil | int64 | max 1 }}
{{- end }}
{{- else }}
{{- 0 }}
{{- end }}
{{- end }}

{{/* Fail when resources.limits.memory is below what the pod needs (docs/deploy.md, "Memory"):
streams * (kcl.heap_mb + 150) + 200 + workers * 190 MiB, plus workers * 6 * pipeline.max_decompressed_bytes
when a stream reads the S3 objects its notifications point at. */}}
{{- define "secstash.checkMemory" -}}
{{- $limit := (.Values.resources.limits | default dict).memory }}
{{- if $limit }}
{{- $workers := include "secstash.workers" . | int64 }}
{{- if not $workers }}
{{- fail "set settings.pipeline.workers (or resources.limits.cpu): without either, secstash starts one parser process (~190 MiB) per CPU of whatever node the pod lands on, and its memory limit cannot be checked" }}
{{- end }}
{{- $settings := .Values.settings | default dict }}
{{- $kcl := $settings.kcl | default dict }}
{{- $pipeline := $settings.pipeline | default dict }}
{{- $streams := $settings.streams | default list }}
{{- $heap := $kcl.heap_mb | default 512 | int64 }}
{{- $objects := false }}
{{- range $streams }}
{{- $s3 := .s3_objects | default dict }}
{{- if or (not (hasKey $s3 "read")) $s3.read }}
{{- $objects = true }}
{{- end }}
{{- end }}
{{- $perObjectMiB := 0 }}
{{- if $objects }}
{{- $perObjectMiB = divf (mulf 6 (float64 ($pipeline.max_decompressed_bytes | default 67108864))) 1048576 | ceil | int64 }}
{{- end }}
{{- $need := add (mul (max 1 (len $streams)) (add $heap 150)) 200 (mul $workers (add 190 $perObjectMiB)) }}
{{- $have := include "secstash.mebibytes" $limit | int64 }}
{{- if lt $have $need }}
{{- fail (printf "resources.limits.memory (%v = %d MiB) is below the %d MiB secstash needs: %d stream(s) x (kcl.heap_mb %d + 150) + 200 + %d worker(s) x (190%s) MiB (docs/deploy.md, \"Memory\"); raise the limit, or lower settings.pipeline.workers, kcl.heap_mb or pipeline.max_decompressed_bytes" $limit $have $need (max 1 (len $streams)) $heap $workers (ternary (printf " + %d for S3 log objects: 6 x pipeline.max_decompressed_bytes" $perObjectMiB) "" $objects)) }}
{{- end }}
{{- end }}
{{- end }}
