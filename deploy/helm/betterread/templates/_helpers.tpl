{{/* Names: the release's full name, cut to 63 characters. */}}
{{- define "betterread.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "betterread.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component (coordinator or worker). */}}
{{- define "betterread.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "betterread.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "betterread.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "betterread.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}

{{/* Flags both binaries take: Redis, the block store, DynamoDB, AWS. */}}
{{- define "betterread.connectionArgs" -}}
- --redis={{ .Values.redis.address }}
{{- if .Values.redis.tls }}
- --redis-tls=true
{{- end }}
{{- if .Values.redis.db }}
- --redis-db={{ .Values.redis.db }}
{{- end }}
- --store={{ .Values.store }}
- --region={{ .Values.aws.region }}
{{- with .Values.dynamodb.endpoint }}
- --dynamodb-endpoint={{ . }}
{{- end }}
- --log-format=json
- --log-level={{ .Values.logLevel }}
{{- end -}}

{{/* Environment both binaries read directly: secrets by reference only. */}}
{{- define "betterread.connectionEnv" -}}
{{- with .Values.redis.passwordSecret.name }}
- name: BETTERREAD_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.redis.passwordSecret.key }}
{{- end }}
{{- with .Values.s3.endpoint }}
- name: BETTERREAD_S3_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with .Values.aws.credentialsSecret.name }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.aws.credentialsSecret.accessKeyIdKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.aws.credentialsSecret.secretAccessKeyKey }}
{{- end }}
{{- end -}}

{{/* The pod spec parts both Deployments share. */}}
{{- define "betterread.podCommon" -}}
serviceAccountName: {{ include "betterread.serviceAccountName" . }}
# Neither binary calls the Kubernetes API (IRSA mounts its own token).
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
volumes:
  # The root filesystem is read-only; /tmp is the one writable place.
  - name: tmp
    emptyDir:
      sizeLimit: 1Gi
{{- end -}}
