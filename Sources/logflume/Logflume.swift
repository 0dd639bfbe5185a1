import ArgumentParser

/// The single logflume executable; every part of the pipeline is a subcommand.
@main
struct Logflume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logflume",
        abstract: "Log shipping: edge agents -> Kafka-compatible broker -> hour-exact files.",
        discussion: """
            `logflume up` runs the whole pipeline in one process over sample nginx logs.
            On real hosts: `agent` on web hosts, `broker` where the log lives, `aggregator` where hour files go.
            """,
        subcommands: [UpCommand.self, BrokerCommand.self, AgentCommand.self, AggregatorCommand.self, DemoCommand.self, LogCommand.self, TopicsCommand.self, GroupsCommand.self, ProduceCommand.self, ConsumeCommand.self]
    )
}
