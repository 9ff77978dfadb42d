module github.com/meterflow/meterflow/services/workflow

go 1.26.8
