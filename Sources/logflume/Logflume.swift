import ArgumentParser

/// The single logflume executable; every part of the pipeline is a subcommand.
@main
struct Logflume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logflume",
        abstract: "Log shipping: edge agents -> Kafka-compatible broker -> hour-exact files.",
        discussion: """
            Today the partition log is in place; `logflume demo` shows it surviving SIGKILL.
            The broker, agent and aggregator subcommands arrive with their issues.
            """,
        subcommands: [UpCommand.self, BrokerCommand.self, AgentCommand.self, AggregatorCommand.self, DemoCommand.self, LogCommand.self, TopicsCommand.self, GroupsCommand.self, ProduceCommand.self, ConsumeCommand.self]
    )
}
