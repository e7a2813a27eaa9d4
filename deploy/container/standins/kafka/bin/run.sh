#!/bin/bash
# Entrypoint of the apache/kafka stand-in. Like the official image it turns
# each KAFKA_* variable into a server.properties line (KAFKA_ dropped,
# lower case, "___" -> "-", "__" -> "_", "_" -> "."; the JVM variables
# KAFKA_HEAP_OPTS, KAFKA_OPTS, ... are JVM options, not properties), formats
# the log directory with CLUSTER_ID once, and runs the broker in the
# foreground.
set -euo pipefail
conf=/opt/kafka/config/server.properties
jvm_vars=" KAFKA_HEAP_OPTS KAFKA_JVM_PERFORMANCE_OPTS KAFKA_OPTS KAFKA_GC_LOG_OPTS KAFKA_LOG4J_OPTS KAFKA_JMX_OPTS KAFKA_DEBUG "
: >"$conf"
while IFS='=' read -r name value; do
	[[ $name == KAFKA_* && $jvm_vars != *" $name "* ]] || continue
	key=${name#KAFKA_}
	key=${key,,}
	key=${key//___/-}
	key=${key//__/@}
	key=${key//_/.}
	key=${key//@/_}
	printf '%s=%s\n' "$key" "$value" >>"$conf"
done < <(env)
cat >/opt/kafka/config/log4j2.properties <<'LOG'
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
LOG
# shellcheck disable=SC2206 # the variables hold several options
java=(java ${KAFKA_HEAP_OPTS:--Xmx1g -Xms1g} ${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseG1GC} ${KAFKA_OPTS:-}
	-Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties -cp '/opt/kafka/libs/*')
"${java[@]}" kafka.tools.StorageTool format --ignore-formatted \
	--cluster-id="${CLUSTER_ID:-5L6g3nShT-eMCtK--X86sw}" -c "$conf"
exec "${java[@]}" kafka.Kafka "$conf"
