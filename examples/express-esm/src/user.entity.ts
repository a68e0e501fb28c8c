import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

@Entity({ name: 'users' })
export class User {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'text', unique: true })
  name!: string;
}

// Said once, this types SessionService, @CurrentUser() and the options by User, with no casts.
declare module 'nestjs-sessions' {
  interface SessionTypes {
    user: User;
  }
}
