module github.com/meterflow/meterflow/gateway

go 1.26.8
